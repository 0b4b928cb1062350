// Durations in the form the docker provider reads them back: it parses what it
// is sent into nanoseconds for Docker and prints Docker's value with Go's
// time.Duration.String() on every read (docs/engine-contract.md), so "120s" sent
// comes back as "2m0s" and shows as a change on the next `up`.

/** A whole number of seconds as Go's time.Duration.String() prints it: 0 → "0s", 20 → "20s", 120 → "2m0s", 3600 → "1h0m0s". */
export function goDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new Error(`internal: ${seconds} is not a whole number of seconds`);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h${minutes}m${rest}s`;
  if (minutes > 0) return `${minutes}m${rest}s`;
  return `${rest}s`;
}
