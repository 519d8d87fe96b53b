// node check.mjs BASE_URL EMAIL PASSWORD ALG: checks agora's tokens with jose, a JWT
// library agora shares no code with, and agora's verifier with tokens jose makes.
// Exits non-zero on any miss.
import * as jose from "jose";
import assert from "node:assert/strict";

const [base, email, password, alg] = process.argv.slice(2);

async function call(path, init = {}) {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}
const bearer = (token) => ({ headers: { Authorization: `Bearer ${token}` } });

const login = await call("/v1/auth/login", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ email, password }),
});
assert.equal(login.status, 200, JSON.stringify(login.body));
const token = login.body.access_token;

// 1. jose verifies our token against our JWKS, with our issuer and audience.
const jwks = await call("/.well-known/jwks.json");
assert.equal(jwks.status, 200);
const keySet = jose.createLocalJWKSet(jwks.body);
const { payload, protectedHeader } = await jose.jwtVerify(token, keySet, {
  issuer: "agora",
  audience: "agora",
  algorithms: [alg],
});
assert.equal(protectedHeader.alg, alg);
assert.ok(protectedHeader.kid, "kid in the header");
assert.equal(payload.sub, login.body.account_id);
for (const claim of ["exp", "nbf", "iat", "jti"]) assert.ok(payload[claim] !== undefined, `${claim} present`);
assert.deepEqual(payload.roles, ["admin"]);
for (const key of jwks.body.keys) for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) assert.ok(!(secret in key));
// And it refuses our token for another audience, as a check that it really checks.
await assert.rejects(jose.jwtVerify(token, keySet, { issuer: "agora", audience: "elsewhere" }));

// 2. agora accepts its own token on an admin route...
assert.equal((await call("/v1/admin/bus", bearer(token))).status, 200);

// ...and refuses tokens jose signs with foreign keys, whatever they claim.
const claims = { ...payload };
const forge = async (algorithm, key, header = {}) =>
  new jose.SignJWT(claims).setProtectedHeader({ alg: algorithm, kid: protectedHeader.kid, ...header }).sign(key);
const ed = await jose.generateKeyPair("EdDSA", { crv: "Ed25519" });
const rsa = await jose.generateKeyPair("RS256", { modulusLength: 2048 });
const forged = {
  "EdDSA, foreign key, our kid": await forge("EdDSA", ed.privateKey),
  "RS256, foreign key, our kid": await forge("RS256", rsa.privateKey),
  "HS256 keyed with our public JWK": await forge("HS256", new TextEncoder().encode(JSON.stringify(jwks.body.keys[0]))),
  "EdDSA, foreign key, unknown kid": await forge("EdDSA", ed.privateKey, { kid: "kid_foreign" }),
  "alg none": new jose.UnsecuredJWT(claims).encode(),
};
for (const [what, t] of Object.entries(forged)) {
  const r = await call("/v1/admin/bus", bearer(t));
  assert.equal(r.status, 401, `${what}: answered ${r.status}`);
  assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/, `${what}: a Bearer challenge`);
}
// A jose-signed token with our header and payload but the signature of another token.
const [h, p] = token.split(".");
const other = (await forge(alg === "EdDSA" ? "EdDSA" : "RS256", alg === "EdDSA" ? ed.privateKey : rsa.privateKey)).split(".")[2];
assert.equal((await call("/v1/admin/bus", bearer(`${h}.${p}.${other}`))).status, 401);

console.log(`jose ${alg}: agora's token verified; ${Object.keys(forged).length + 1} forged tokens refused`);
