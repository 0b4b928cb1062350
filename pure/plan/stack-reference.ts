// Under which name the program reads its own stack's outputs (index.ts).
//
// The full name organization/project/stack is what the Pulumi Cloud and a
// self-managed ("diy": file://, s3://, ...) backend in its project layout
// (.pulumi/meta.yaml version 1) accept. A self-managed backend still in its
// legacy layout (no meta.yaml, or version 0) keeps stacks without projects and
// parses a reference as a bare stack name, which refuses the '/':
//   legacy layout chosen by meta.yaml's version:
//     https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/backend/diy/backend.go#L349
//   its ParseReference is tokens.ParseStackName (the project layout's accepts organization/project/stack):
//     https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/backend/diy/store.go#L362
//     https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/sdk/go/common/tokens/stack_name.go#L80
//   the organization a self-managed backend gives the program is always "organization", in either layout:
//     https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/backend/diy/state.go#L104
// A StackReference whose read fails fails the whole update (a failed read step
// cancels the deployment), so index.ts tries each name with the built-in
// provider's pulumi:pulumi:readStackOutputs invoke, the same read whose error
// only comes back to the program:
//   https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/resource/deploy/builtins.go#L338
//   https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/resource/deploy/step_executor.go#L404

/** The built-in provider's function that reads a stack's outputs by name. */
export const READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs";

export type StackId = { readonly organization: string; readonly project: string; readonly stack: string };

/** A name tried, and the error reading it gave (none: it was read). */
export type Attempt = { readonly name: string; readonly error?: string };

export type StackReferenceDecision =
  /** read the outputs under this name (with the invoke) before anything else */
  | { readonly kind: "try"; readonly name: string }
  /** this name reads: the StackReference uses it */
  | { readonly kind: "use"; readonly name: string; readonly warning?: string }
  | { readonly kind: "refuse"; readonly message: string };

export const fullName = (id: StackId) => `${id.organization}/${id.project}/${id.stack}`;

/**
 * Whether `message` is the legacy layout's refusal of a '/' in a stack name:
 * tokens.ParseStackName's "a stack name may only contain alphanumeric, hyphens,
 * underscores, or periods: invalid character '/' at position 12" (CLIs before
 * November 2023 said "stack names may only contain ..." with no character).
 * The other characters of the full name are valid, so no character named means the '/'.
 */
export function isLegacyLayoutError(message: string): boolean {
  if (!/stack names? may only contain alphanumeric, hyphens, underscores, or periods/i.test(message)) return false;
  return !/invalid character/i.test(message) || /invalid character '\/'/i.test(message);
}

const UPGRADE = "Move the backend to the project layout with `pulumi state upgrade` (it moves every stack of that backend: back its state up first).";

/** What to do next, given the names tried so far (in order). */
export function stackReferenceDecision(id: StackId, attempts: readonly Attempt[]): StackReferenceDecision {
  const full = fullName(id);
  const [first, second] = attempts;
  if (!first) return { kind: "try", name: full };
  if (first.error === undefined) return { kind: "use", name: first.name };
  if (!isLegacyLayoutError(first.error)) {
    return { kind: "refuse", message: `cannot read this stack's own outputs (the last verified up's record) as ${full}: ${first.error}` };
  }
  if (!second) return { kind: "try", name: id.stack };
  if (second.error === undefined) {
    return {
      kind: "use",
      name: second.name,
      warning: `this stack's backend is a self-managed one in Pulumi's legacy layout (stacks without projects): its outputs are read as ${id.stack}, not ${full}. Pulumi has deprecated that layout and will remove it. ${UPGRADE}`,
    };
  }
  return {
    kind: "refuse",
    message: `cannot read this stack's own outputs: the backend refuses ${full} (${first.error}), as a self-managed backend in Pulumi's legacy layout does, and ${id.stack} too (${second.error}). ${UPGRADE} Then run again.`,
  };
}

/**
 * Tries the names `stackReferenceDecision` gives, in turn, with `read` (the
 * error it gives, or undefined when the name reads), until it settles.
 */
export async function ownStackReference(
  id: StackId,
  read: (name: string) => Promise<string | undefined>,
): Promise<{ readonly name: string; readonly warning?: string } | { readonly refuse: string }> {
  const attempts: Attempt[] = [];
  for (;;) {
    const next = stackReferenceDecision(id, attempts);
    if (next.kind === "refuse") return { refuse: next.message };
    if (next.kind === "use") return { name: next.name, ...(next.warning ? { warning: next.warning } : {}) };
    attempts.push({ name: next.name, error: await read(next.name) });
  }
}
