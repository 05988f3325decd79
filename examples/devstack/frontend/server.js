// Front end of the devstack example: a page that shows what the API answers. Node only, no
// npm packages. The API's port comes from API_PORT (reaper sets NAME_PORT for every service a
// service depends on), the token from .env.local.
"use strict";
const http = require("http");

const port = Number(process.env.PORT || 3000);
const apiPort = Number(process.env.API_PORT || 8001);
const token = process.env.NEXT_PUBLIC_API_TOKEN || "";

function callApi(done) {
  const request = http.get(
    { host: "127.0.0.1", port: apiPort, path: "/api/hello", headers: { Authorization: `Bearer ${token}` } },
    (response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => done(null, response.statusCode, body));
    },
  );
  request.on("error", (error) => done(error));
}

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("ok\n");
    return;
  }
  callApi((error, status, body) => {
    const text = error ? `API unreachable: ${error.message}` : `API answered ${status}: ${body}`;
    res.writeHead(error ? 502 : 200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>devstack</title><h1>devstack</h1><p>${text}</p>\n`);
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`web: listening on http://127.0.0.1:${port} (API on port ${apiPort})`);
  callApi((error, status, body) =>
    console.log(error ? `web: API unreachable: ${error.message}` : `web: API answered ${status}: ${body}`),
  );
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    console.log(`web: ${signal} received, closing`);
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
