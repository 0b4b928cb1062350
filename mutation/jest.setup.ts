// Each Stryker test runner process gets its own temp dir: the program under mocks
// writes <tmpdir>/seatable-cluster/<stack>.known_hosts, which two runners at once
// would overwrite under each other's tests.
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = join(tmpdir(), `stryker-runner-${process.pid}`);
mkdirSync(dir, { recursive: true });
process.env.TMPDIR = dir;
