// A real OpenID Connect provider for the tests: panva's oidc-provider
// (OpenID Certified), in memory, on a loopback port, with its development
// login and consent forms (any login and password signs in).
//
//   node e2e/oidc-provider.mjs --redirect-uri URI [--redirect-uri URI …] [--host 127.0.0.1] [--port 0]
//
// Prints `ready <issuer>` once listening; exits when stdin closes (so a test
// that dies takes it along). Two clients: `latchkey` (secret `latchkey-secret`)
// and `other` (secret `other-secret`), both with every --redirect-uri.
//
// Accounts are made up from the login: `alice` has alice@example.com,
// verified; `unverified-…` has an address the provider does not vouch for;
// `noemail-…` has none.
//
// For the tests of ID-token validation, `POST /test/tamper` with a JSON body
// changes the claims of the next ID token the token endpoint answers, which
// is then signed again with the provider's own key (`"foreignKey": true`:
// with a key the provider does not publish). The code, PKCE and everything
// else stay the real provider's.
import { parseArgs } from "node:util";

import * as jose from "jose";
import Provider from "oidc-provider";

const { values } = parseArgs({
  options: {
    "redirect-uri": { type: "string", multiple: true, default: [] },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
  },
});

const { privateKey } = await jose.generateKeyPair("RS256", { extractable: true });
const signing = { ...(await jose.exportJWK(privateKey)), kid: "test-key", alg: "RS256", use: "sig" };
const foreign = (await jose.generateKeyPair("RS256")).privateKey;

function account(id) {
  const claims = { sub: id, preferred_username: id, given_name: id, family_name: "Tester" };
  if (!id.startsWith("noemail-")) {
    claims.email = `${id}@example.com`;
    claims.email_verified = !id.startsWith("unverified-");
  }
  return { accountId: id, claims: async () => claims };
}

const clients = [
  ["latchkey", "latchkey-secret"],
  ["other", "other-secret"],
].map(([client_id, client_secret]) => ({
  client_id,
  client_secret,
  redirect_uris: values["redirect-uri"],
  grant_types: ["authorization_code"],
  response_types: ["code"],
  token_endpoint_auth_method: "client_secret_basic",
}));

let tamper = null;

async function start(port) {
  const server = await new Promise((resolve, reject) => {
    const probe = (p) => {
      // Bind first, so the issuer names the real port.
      import("node:http").then(({ createServer }) => {
        const s = createServer();
        s.once("error", reject);
        s.listen(p, values.host, () => resolve(s));
      });
    };
    probe(port);
  });
  const { port: bound } = server.address();
  const host = values.host.includes(":") ? `[${values.host}]` : values.host;
  const issuer = `http://${host}:${bound}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signing] },
    findAccount: async (_ctx, id) => account(id),
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["preferred_username", "given_name", "family_name"] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ["a-test-only-cookie-key"] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  });
  // Plain http on loopback is this provider's only transport.
  provider.proxy = false;
  provider.use(async (ctx, next) => {
    if (ctx.path === "/test/tamper" && ctx.method === "POST") {
      const chunks = [];
      for await (const c of ctx.req) chunks.push(c);
      tamper = JSON.parse(Buffer.concat(chunks).toString() || "null");
      ctx.status = 204;
      return;
    }
    await next();
    if (ctx.path === "/token" && tamper && ctx.body && ctx.body.id_token) {
      const { foreignKey, ...changes } = tamper;
      tamper = null;
      const claims = { ...jose.decodeJwt(ctx.body.id_token), ...changes };
      ctx.body = {
        ...ctx.body,
        id_token: await new jose.SignJWT(claims)
          .setProtectedHeader({ alg: "RS256", kid: "test-key", typ: "JWT" })
          .sign(foreignKey ? foreign : privateKey),
      };
    }
  });
  server.on("request", provider.callback());
  console.log(`ready ${issuer}`);
  return server;
}

const server = await start(Number(values.port));
process.stdin.resume();
process.stdin.on("end", () => server.close(() => process.exit(0)));
process.on("SIGTERM", () => process.exit(0));
