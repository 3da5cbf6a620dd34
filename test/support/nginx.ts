import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./redis-server.js";

/** A real nginx (Debian's nginx-light) on a private loopback port, owned by a test. */
export interface NginxHandle {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Debian 12's stock http block (nginx.conf) with `server_tokens off`, one worker in the
 * foreground, every path in a temp dir, and a server that answers 404 for every path,
 * which is what the gateway's nginx profile claims to be.
 */
function config(dir: string, port: number, extra: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  server_tokens off;
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  keepalive_timeout 65;
  ${extra}
  server {
    listen 127.0.0.1:${String(port)};
    location / { return 404; }
  }
}
`;
}

/** Starts nginx with the config above; waits (bounded) until it accepts connections. */
export async function startNginx(extra = ""): Promise<NginxHandle> {
  const dir = mkdtempSync(join(tmpdir(), "webknock-nginx-"));
  const port = await freePort();
  writeFileSync(join(dir, "nginx.conf"), config(dir, port, extra));
  const child = spawn("nginx", ["-p", dir, "-c", join(dir, "nginx.conf")], { stdio: "ignore" });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { port, stop };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  throw new Error(`nginx did not start on port ${String(port)}; is nginx-light installed?`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      resolve(false);
    });
  });
}
