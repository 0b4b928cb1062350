// Each Stryker test runner process gets its own temp dir: the program under mocks
// writes <tmpdir>/seatable-cluster/<stack>.known_hosts, which two runners at once
// would overwrite under each other's tests.
const { mkdirSync } = require("node:fs");
const { join } = require("node:path");

const dir = join(require("node:os").tmpdir(), `stryker-runner-${process.pid}`);
mkdirSync(dir, { recursive: true });
process.env.TMPDIR = dir;
