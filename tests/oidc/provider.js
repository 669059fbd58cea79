// A real OpenID provider for the sign-in tests: oidc-provider with its
// development interactions (any login name and password sign in; the login
// name is the subject). Settings from the environment:
//   PORT           the loopback port to listen on
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated)
// Each person's `groups` claim is set by the test with
// `POST /test/groups/SUBJECT` and a JSON array body, so a later sign-in can
// carry other groups. Prints `listening ISSUER` once it serves.
import http from "node:http";
import Provider from "oidc-provider";

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const groups = new Map();

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      redirect_uris: process.env.REDIRECT_URIS.split(","),
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  scopes: ["openid", "email", "profile", "groups"],
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name"],
    groups: ["groups"],
  },
  // Claims in the ID token too (the server also reads userinfo).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: `${sub}@example.com`,
          email_verified: true,
          name: `Person ${sub}`,
          groups: groups.get(sub) ?? [],
        };
      },
    };
  },
});

provider.on("server_error", (_ctx, err) => console.error("server_error", err));
const app = provider.callback();
const server = http.createServer((req, res) => {
  const m = req.url.match(/^\/test\/groups\/([^/?]+)$/);
  if (req.method === "POST" && m) {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      groups.set(decodeURIComponent(m[1]), JSON.parse(body));
      res.writeHead(204).end();
    });
    return;
  }
  app(req, res);
});
server.listen(port, "127.0.0.1", () => console.log(`listening ${issuer}`));
