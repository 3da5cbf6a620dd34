import { randomInt } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real redis-server on a private loopback port, owned by a test. */
export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on 127.0.0.1:port with no persistence; waits until it answers PING.
 * `extraArgs` are appended (e.g. `--cluster-enabled yes`).
 */
export async function startRedisServer(
  port: number,
  extraArgs: readonly string[] = [],
): Promise<RedisServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), "webknock-redis-"));
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      ...extraArgs,
    ],
    { stdio: "ignore" },
  );
  const deadline = Date.now() + 10_000;
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    if (child.exitCode !== null) break;
    if (await answersPing(port)) {
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        process: child,
        stop: async () => {
          // A test may have killed it already: a signalled process has no exitCode, and
          // its 'exit' has been emitted, so waiting for it again would hang.
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGCONT");
            child.kill("SIGKILL");
            await new Promise((resolve) => child.once("exit", resolve));
          }
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGKILL");
  throw new Error(
    `redis-server did not start on port ${port}; is it installed (apt-get install redis-server)?`,
  );
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setTimeout(500);
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString().startsWith("+PONG"));
    });
    socket.once("error", () => {
      resolve(false);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Where freePort picks from. */
const FREE_PORT_FIRST = 20_000;
const FREE_PORT_COUNT = 2_700;

/** A free loopback port, so parallel runs (CI, a developer's second checkout) never collide. */
export async function freePort(): Promise<number> {
  // Below the kernel's ephemeral range (32768-60999 by default), and so is a cluster
  // node's bus port (port + 10000): a port-0 listener elsewhere in the run can never be
  // handed this port while a test has killed its server and not yet restarted it there.
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FREE_PORT_FIRST + randomInt(FREE_PORT_COUNT);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${FREE_PORT_FIRST}-${FREE_PORT_FIRST + FREE_PORT_COUNT - 1}`);
}

/** Whether 127.0.0.1:`port` can be listened on right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => {
      resolve(false);
    });
    probe.listen(port, "127.0.0.1", () => {
      probe.close(() => {
        resolve(true);
      });
    });
  });
}
