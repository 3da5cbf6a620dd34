// A tiny TCP helper that runs inside a network namespace (`ip netns exec NS node THIS`),
// because a Node process cannot enter a namespace itself. It reads one JSON request per
// line on stdin and answers one JSON line per request on stdout, echoing `id`:
//   {"op":"listen","port":22,"host":"::"}                        -> {"ok":true}
//   {"op":"connect","host":"10.200.1.1","port":22,"localAddress":"10.200.1.3","timeoutMs":1000}
//                                                                -> {"ok":true,"conn":1}
//   {"op":"echo","conn":1,"data":"x","timeoutMs":1000}          -> {"ok":true,"data":"x"}
//   {"op":"end","conn":1}                                        -> {"ok":true}
//   {"op":"http","method":"GET","url":"http://10.200.1.1:8080/k","headers":{},"body":"",
//    "timeoutMs":3000}                                           -> {"ok":true,"status":200,"data":"..."}
// Failures answer {"ok":false,"error":"..."}. Plain JavaScript so it starts fast, without tsx.
import { request as httpRequest } from "node:http";
import { createConnection, createServer } from "node:net";
import process from "node:process";
import { createInterface } from "node:readline";
import { clearTimeout, setTimeout } from "node:timers";

const servers = [];
const conns = new Map();
let nextConn = 1;

const reply = (id, body) => process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);

function listen({ port, host = "::" }) {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on("error", () => socket.destroy());
      socket.pipe(socket);
    });
    server.once("error", reject);
    server.listen({ port, host, ipv6Only: false }, () => {
      servers.push(server);
      resolve({});
    });
  });
}

function connect({ host, port, localAddress, timeoutMs = 1000 }) {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port, localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("ETIMEDOUT"));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      const conn = nextConn++;
      conns.set(conn, socket);
      socket.on("error", () => undefined);
      resolve({ conn });
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function echo({ conn, data, timeoutMs = 1000 }) {
  const socket = conns.get(conn);
  if (!socket) return Promise.reject(new Error(`no connection ${conn}`));
  return new Promise((resolve, reject) => {
    let received = "";
    const onData = (chunk) => {
      received += chunk.toString();
      if (received.length >= data.length) done(() => resolve({ data: received }));
    };
    const onClose = () => done(() => reject(new Error("ECONNCLOSED")));
    const timer = setTimeout(() => done(() => reject(new Error("ETIMEDOUT"))), timeoutMs);
    const done = (settle) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      settle();
    };
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.write(data);
  });
}

function end({ conn }) {
  conns.get(conn)?.destroy();
  conns.delete(conn);
  return Promise.resolve({});
}

function http({ method = "GET", url, headers = {}, body, timeoutMs = 3000 }) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, timeout: timeoutMs }, (res) => {
      let data = "";
      res.on("data", (chunk) => (data += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode, data }));
    });
    req.on("timeout", () => req.destroy(new Error("ETIMEDOUT")));
    req.on("error", reject);
    req.end(body);
  });
}

const ops = { listen, connect, echo, end, http };

createInterface({ input: process.stdin }).on("line", (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch {
    return;
  }
  const op = ops[request.op];
  if (!op) return reply(request.id, { ok: false, error: `unknown op ${request.op}` });
  op(request).then(
    (body) => reply(request.id, { ok: true, ...body }),
    (error) => reply(request.id, { ok: false, error: error.code ?? error.message }),
  );
});

// Exit when the test process goes away, so no helper outlives its namespace.
process.stdin.on("end", () => process.exit(0));
process.stdout.write(`${JSON.stringify({ id: 0, ok: true, ready: true })}\n`);
