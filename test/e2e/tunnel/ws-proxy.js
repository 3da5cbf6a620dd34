// A minimal WebSocket ProxyCommand for the tunnel tests, independent of `webknock tunnel`:
//   ssh -o ProxyCommand='node ws-proxy.js wss://10.201.0.1/t/9f2c1e4b' root@gw echo ok
// Opens the URL (certificate not checked: the test gateway's is self-signed), then pipes
// stdin to binary frames and frames to stdout with the ws library's stream adapter (which
// applies backpressure both ways). Exits 0 when the tunnel closes cleanly, 1 when the
// upgrade is refused (prints the HTTP status line to stderr) or the connection fails.
import process from "node:process";
import { createWebSocketStream, WebSocket } from "ws";

const url = process.argv[2];
if (url === undefined) {
  process.stderr.write("usage: ws-proxy.js wss://HOST/PATH\n");
  process.exit(2);
}
const ws = new WebSocket(url, { rejectUnauthorized: false, perMessageDeflate: false });
ws.on("unexpected-response", (_req, res) => {
  process.stderr.write(`ws-proxy: upgrade refused: HTTP ${res.statusCode}\n`);
  process.exit(1);
});
ws.on("error", (error) => {
  process.stderr.write(`ws-proxy: ${error.message}\n`);
  process.exit(1);
});
// The tunnel is over when the server closes it. Node never ends process.stdout for a pipe,
// so ssh would not see EOF: exit instead (writes to a pipe are synchronous on Linux).
ws.on("close", () => process.exit(0));
ws.on("open", () => {
  const stream = createWebSocketStream(ws);
  stream.on("error", () => process.exit(1));
  process.stdin.pipe(stream).pipe(process.stdout);
});
