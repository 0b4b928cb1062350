// Which SeaTable versions the program runs, and how each takes its settings
// (../shared/docs/seatable-facts.md, "Versions"; docs/seatable-versions.md).
// The same rules for the image tag and the seatableVersion override; `npm run
// plan` and the program report them with the same lines.

/** How a supported SeaTable version takes its settings. */
export type VersionStyle = "6.1" | "6.2";

export type VersionCheck = { readonly style: VersionStyle; readonly warning?: string } | { readonly problem: string };

const VERSION = /^(\d+)\.(\d+)(?:\.\d+)?$/;

/** "6.1.8" → "6.1" */
export const minorOf = (version: string) => version.split(".").slice(0, 2).join(".");

/** Whether the program can run this SeaTable version, and how; a refusal says why and what to do. */
export function checkVersion(version: string): VersionCheck {
  const m = VERSION.exec(version);
  if (!m) return { problem: `"${version}" is not a SeaTable version such as "6.2" or "6.1.8"` };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < 6 || (major === 6 && minor === 0)) {
    return {
      problem:
        `SeaTable ${version} is not supported: up to 6.0 SeaTable reads S3 only from conf files that also hold the S3 secret key, ` +
        "which this program does not write, so each node's storage server would save bases to its own disk; " +
        "upgrade the installation to 6.1 first (SeaTable's upgrade guide, on the single node), then use a 6.1 or 6.2 image here",
    };
  }
  if (major >= 7) {
    return {
      problem:
        `SeaTable ${version} is not supported: from 7.0 the seatable image no longer runs dtable-server ` +
        "(it moved to its own image, seatable/dtable-server-js, whose cluster settings are not documented yet), " +
        "so this cluster definition would run no dtable-server at all; use a 6.1 or 6.2 image",
    };
  }
  if (minor === 1) return { style: "6.1" };
  if (minor === 2) return { style: "6.2" };
  return {
    style: "6.2",
    warning: `SeaTable ${version} is newer than 6.2, the newest version this program knows; its settings follow 6.2: read SeaTable's upgrade notice for ${major}.${minor} before deploying it`,
  };
}
