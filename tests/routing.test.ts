import { computeRoutingTable } from "../pure/plan/routing";
test("smoke", () => {
  const t = computeRoutingTable({ servers: [{ name: "a", weight: 1 }], bucketHexDigits: 1, pins: {} });
  expect(Object.values(t.buckets)).toHaveLength(16);
});
