import { runProgram } from "./support/program";
import { stackValues } from "./support/stacks";

test("dev runs", async () => {
  const run = await runProgram(stackValues("dev"));
  console.log(run.resources.map((r) => `${r.type} ${r.name} deps=${r.dependencies.length} parent=${r.parent.split("::").pop()}`).join("\n"));
  console.log(JSON.stringify(run.outputs).slice(0, 2000));
  const c = run.resources.find((r) => r.type === "docker:index/container:Container");
  console.log(JSON.stringify(c?.inputs).slice(0, 1500));
});
