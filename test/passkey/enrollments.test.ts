import { MemoryEnrollments } from "../../src/passkey/enrollments.js";
import { enrollmentContract } from "./enrollments-contract.js";

enrollmentContract("memory", () => {
  let t = Date.UTC(2026, 11, 2, 10, 0, 0);
  const now = () => t;
  return Promise.resolve({
    store: new MemoryEnrollments(now),
    now,
    advance: (ms) => {
      t += ms;
    },
  });
});
