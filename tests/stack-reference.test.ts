// Under which name the program reads its own stack's outputs (pure/plan/stack-reference.ts):
// the full name, or the bare stack name on a self-managed backend in Pulumi's legacy layout.
import { fullName, isLegacyLayoutError, ownStackReference, READ_STACK_OUTPUTS, stackReferenceDecision } from "../pure/plan/stack-reference";

const ID = { organization: "organization", project: "seatable-cluster", stack: "prod" };
const FULL = "organization/seatable-cluster/prod";
// what the invoke's error says, as the engine words it (resource monitor → tokens.ParseStackName)
const LEGACY =
  "invocation of pulumi:pulumi:readStackOutputs returned an error: a stack name may only contain alphanumeric, hyphens, underscores, or periods: invalid character '/' at position 12";
const UPGRADE = "Move the backend to the project layout with `pulumi state upgrade` (it moves every stack of that backend: back its state up first).";

test("the built-in provider's function and the full name", () => {
  expect(READ_STACK_OUTPUTS).toBe("pulumi:pulumi:readStackOutputs");
  expect(fullName(ID)).toBe(FULL);
});

test("the legacy layout's refusal of the '/' is recognised, in today's words and those of CLIs before November 2023", () => {
  expect(isLegacyLayoutError(LEGACY)).toBe(true);
  expect(isLegacyLayoutError("a stack name may only contain alphanumeric, hyphens, underscores, or periods: invalid character '/' at position 0")).toBe(true);
  expect(isLegacyLayoutError("stack names may only contain alphanumeric, hyphens, underscores, or periods")).toBe(true);
  expect(isLegacyLayoutError("A Stack Name May Only Contain Alphanumeric, Hyphens, Underscores, Or Periods: Invalid Character '/' at position 12")).toBe(true);
});

test("other errors are not the legacy layout's", () => {
  for (const other of [
    // another character refused: not the '/' of the full name
    "a stack name may only contain alphanumeric, hyphens, underscores, or periods: invalid character '%' at position 3",
    "a stack name cannot exceed 100 characters",
    "a stack name may not be empty",
    "organization name must be 'organization'",
    'unknown stack "organization/seatable-cluster/prod"',
    "invocation of pulumi:pulumi:readStackOutputs returned an error: no backend client is available",
    "",
  ]) {
    expect([other, isLegacyLayoutError(other)]).toEqual([other, false]);
  }
});

test("the full name first; used when it reads", () => {
  expect(stackReferenceDecision(ID, [])).toEqual({ kind: "try", name: FULL });
  expect(stackReferenceDecision(ID, [{ name: FULL }])).toEqual({ kind: "use", name: FULL });
});

test("refused as the legacy layout refuses it: the bare stack name next, used with a warning to upgrade", () => {
  expect(stackReferenceDecision(ID, [{ name: FULL, error: LEGACY }])).toEqual({ kind: "try", name: "prod" });
  expect(stackReferenceDecision(ID, [{ name: FULL, error: LEGACY }, { name: "prod" }])).toEqual({
    kind: "use",
    name: "prod",
    warning: `this stack's backend is a self-managed one in Pulumi's legacy layout (stacks without projects): its outputs are read as prod, not ${FULL}. Pulumi has deprecated that layout and will remove it. ${UPGRADE}`,
  });
});

test("the bare name refused too: refused, with both errors and the upgrade", () => {
  expect(stackReferenceDecision(ID, [{ name: FULL, error: LEGACY }, { name: "prod", error: 'unknown stack "prod"' }])).toEqual({
    kind: "refuse",
    message: `cannot read this stack's own outputs: the backend refuses ${FULL} (${LEGACY}), as a self-managed backend in Pulumi's legacy layout does, and prod too (unknown stack "prod"). ${UPGRADE} Then run again.`,
  });
});

test("any other error with the full name is refused as it is: no other name is tried", () => {
  expect(stackReferenceDecision(ID, [{ name: FULL, error: "unable to open bucket s3://state: access denied" }])).toEqual({
    kind: "refuse",
    message: `cannot read this stack's own outputs (the last verified up's record) as ${FULL}: unable to open bucket s3://state: access denied`,
  });
});

describe("ownStackReference: the names tried in turn", () => {
  const reader = (errors: Record<string, string>) => {
    const tried: string[] = [];
    return { tried, read: async (name: string) => (tried.push(name), errors[name]) };
  };

  test("Pulumi Cloud or a project-layout backend: the full name, read once", async () => {
    const r = reader({});
    expect(await ownStackReference(ID, r.read)).toEqual({ name: FULL });
    expect(r.tried).toEqual([FULL]);
  });

  test("the legacy layout: the full name, then the stack's", async () => {
    const r = reader({ [FULL]: LEGACY });
    const own = await ownStackReference(ID, r.read);
    expect(own).toEqual({ name: "prod", warning: expect.stringContaining("pulumi state upgrade") });
    expect(r.tried).toEqual([FULL, "prod"]);
  });

  test("refusals", async () => {
    const both = reader({ [FULL]: LEGACY, prod: "boom" });
    expect(await ownStackReference(ID, both.read)).toEqual({ refuse: expect.stringMatching(/and prod too \(boom\)\. .*pulumi state upgrade.* Then run again\.$/) });
    expect(both.tried).toEqual([FULL, "prod"]);
    const other = reader({ [FULL]: "boom" });
    expect(await ownStackReference(ID, other.read)).toEqual({ refuse: `cannot read this stack's own outputs (the last verified up's record) as ${FULL}: boom` });
    expect(other.tried).toEqual([FULL]);
  });
});
