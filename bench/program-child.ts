// One measurement of the whole Pulumi program under mocks, in its own process:
// `node -r ts-node/register/transpile-only bench/program-child.ts <servers>`.
// Prints one JSON line: resources registered, time and memory.
import { runProgram } from "../tests/support/program";
import { stackValues } from "../tests/support/stacks";

/** Prefix of the result line (the program may log too). */
const MARK = "PROGRAM_BENCH ";

async function main(): Promise<void> {
  const servers = Number(process.argv[2]);
  if (!Number.isInteger(servers) || servers < 1 || servers > 4096) throw new Error(`usage: program-child.ts <servers>, got ${process.argv[2]}`);
  const values = stackValues("dev");
  const first = values.hosts.servers[0];
  // the dev stack with `servers` dtable-servers on distinct addresses
  values.hosts.servers = Array.from({ length: servers }, (_, i) => ({
    ...first,
    name: i === 0 ? first.name : `dtable-server-${i + 1}`,
    address: `10.1.${i >> 8}.${(i & 255) + 1}`,
  }));
  const rssBefore = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const run = await runProgram(values);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuBefore);
  const memory = process.memoryUsage();
  const usage = process.resourceUsage();
  process.stdout.write(
    `${MARK}${JSON.stringify({
      servers,
      resources: run.resources.length,
      ms,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssKiB: usage.maxRSS,
      rssBeforeKiB: Math.round(rssBefore / 1024),
      heapUsedKiB: Math.round(memory.heapUsed / 1024),
    })}\n`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
