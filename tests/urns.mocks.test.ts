// The resource names (URNs) of the shipped stacks are part of the interface:
// renaming a container, a provider or a component makes Pulumi delete the
// resource under the old name and create one under the new, i.e. replace a
// running container. A change here must be deliberate: keep the old URN with
// `aliases`, then update tests/urns/<stack>.txt. Rollout steps (commands) are
// left out: they are made anew by every change.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runProgram } from "./support/program";
import { ROOT, stackValues, STACKS } from "./support/stacks";

test.each(STACKS)("Pulumi.%s.yaml keeps the URNs of its containers, providers, images, network and components", async (stack) => {
  const run = await runProgram(stackValues(stack));
  const urns = run.resources.filter((r) => r.type !== "command:remote:Command").map((r) => r.urn).sort();
  const pinned = readFileSync(join(ROOT, "tests", "urns", `${stack}.txt`), "utf8").trim().split("\n");
  expect(urns).toEqual(pinned);
});
