import { MemoryStore } from "../../src/store/memory.js";
import { describeStoreContract } from "./contract.js";

describeStoreContract("MemoryStore", () => {
  let time = 1_800_000_000_000;
  const store = new MemoryStore(() => time);
  return Promise.resolve({
    store,
    now: () => time,
    advanceTime: (ms: number) => {
      time += ms;
      return Promise.resolve();
    },
    close: () => store.close(),
  });
});
