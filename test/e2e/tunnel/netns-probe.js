// A one-shot TCP/TLS prober for the tunnel tests, run inside a client namespace
// (`ip netns exec NS node THIS '<json>'`) so the gateway sees that client's address. Plain
// JavaScript so it starts fast, without tsx. One JSON request in argv[2], JSON lines out:
//   {"op":"exchange","host":"10.201.0.2","port":443,"send":"SSH-2.0-x\r\n",
//    "tls":false,"servername":"ssh.gw.test","firstByteMs":1500,"quietMs":300,"maxMs":5000}
//     -> {"text":"...latin1...","closed":true,"ms":12}
//        Collects until the server closes, or falls quiet for quietMs after answering, or
//        sends nothing for firstByteMs; bounded by maxMs. TLS certificates are not checked.
//   {"op":"flood","host":...,"port":443,"silent":300,"loris":20,"lorisBytes":"16030102000100",
//    "lorisEveryMs":200,"holdMs":6000}
//     -> {"opened":N} once every connection is up, then
//        {"silent":[ms|null,...],"loris":[ms|null,...],"silentBytes":B,"lorisBytes":B,
//         "refused":R}
//        ms: how long after its connect the server closed each connection (null: still
//        open at holdMs).
//        Silent ones send nothing; loris ones send lorisBytes (hex) one byte per lorisEveryMs.
import { connect as tcpConnect } from "node:net";
import { Buffer } from "node:buffer";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import { connect as tlsConnect } from "node:tls";

const out = (body) => process.stdout.write(`${JSON.stringify(body)}\n`);

function open({ host, port, tls, servername }) {
  return tls
    ? tlsConnect({ host, port, servername, rejectUnauthorized: false, ALPNProtocols: [] })
    : tcpConnect({ host, port });
}

function exchange(request) {
  const { send = "", firstByteMs = 1500, quietMs = 300, maxMs = 5000 } = request;
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = open(request);
    const chunks = [];
    let done = false;
    let error;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      clearTimeout(hard);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      resolve({ text, closed, ms: Date.now() - started, ...(error ? { error } : {}) });
    };
    let quiet = setTimeout(() => finish(false), firstByteMs);
    const hard = setTimeout(() => finish(false), maxMs);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), quietMs);
    });
    socket.on("error", (e) => {
      error = e.code ?? e.message;
      finish(true);
    });
    socket.on("close", () => finish(true));
    socket.once(request.tls ? "secureConnect" : "connect", () => socket.write(send, "latin1"));
  });
}

async function flood(request) {
  const { silent = 0, loris = 0, lorisBytes = "", lorisEveryMs = 200, holdMs = 5000 } = request;
  const drip = Buffer.from(lorisBytes, "hex");
  const started = Date.now();
  const bytes = { silent: 0, loris: 0 };
  let refused = 0;
  const timers = [];
  const track = (kind) =>
    new Promise((resolve) => {
      const socket = tcpConnect({ host: request.host, port: request.port });
      const entry = { socket, closedAt: null, connectedAt: Date.now() };
      socket.on("data", (chunk) => (bytes[kind] += chunk.length));
      socket.on("error", (e) => {
        if (e.code === "ECONNREFUSED") refused++;
      });
      socket.on("close", () => (entry.closedAt = Date.now() - entry.connectedAt));
      socket.once("connect", () => {
        entry.connectedAt = Date.now();
        if (kind === "loris") {
          let i = 0;
          const tick = () => {
            if (socket.destroyed || i >= drip.length) return;
            socket.write(drip.subarray(i, i + 1));
            i++;
            timers.push(setTimeout(tick, lorisEveryMs));
          };
          tick();
        }
        resolve(entry);
      });
      socket.once("error", () => resolve(entry));
    });
  const silentOnes = await Promise.all(Array.from({ length: silent }, () => track("silent")));
  const lorisOnes = await Promise.all(Array.from({ length: loris }, () => track("loris")));
  out({ opened: silent + loris - refused, ms: Date.now() - started });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, holdMs - (Date.now() - started))));
  for (const timer of timers) clearTimeout(timer);
  const result = {
    silent: silentOnes.map((e) => e.closedAt),
    loris: lorisOnes.map((e) => e.closedAt),
    silentBytes: bytes.silent,
    lorisBytes: bytes.loris,
    refused,
  };
  for (const e of [...silentOnes, ...lorisOnes]) e.socket.destroy();
  return result;
}

const request = JSON.parse(process.argv[2] ?? "{}");
const ops = { exchange, flood };
const op = ops[request.op];
if (op === undefined) {
  out({ error: `unknown op ${request.op}` });
  process.exit(2);
}
op(request).then(
  (body) => {
    out(body);
    process.exit(0);
  },
  (error) => {
    out({ error: error.message });
    process.exit(1);
  },
);
