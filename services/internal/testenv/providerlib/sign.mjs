// Test-only helper for presets_test.go: signs webhook deliveries with each
// provider's own library, and verifies stored deliveries with it.
//
// stdin:  {"op": "sign"|"verify"|"keys", "cases": [{preset, secret, body, url, id, ts, ...}]}
// stdout: one result per case: sign → {headers, libOK}; verify → {ok, err}; keys → {public, private}
//
// Where a library only verifies (Square, Paddle, HubSpot, Linear, Discord,
// SendGrid), the signature is computed from the provider's documentation
// with node:crypto and libOK reports that the provider's library accepts it,
// so the vector is the library's, not ours. Where no library exists (Slack,
// Zoom, Shopify, X, and Standard Webhooks' Ed25519 v1a, which neither
// standardwebhooks nor svix implements), node:crypto follows the documented
// algorithm and presets_test.go checks published vectors besides.
import crypto from 'node:crypto';
import { createRequire } from 'node:module';

// Libraries load on first use: node starts in well under a second for the
// cases that need none.
const require = createRequire(import.meta.url);
const lib = {};
const load = (name) => (lib[name] ??= require(name));
const stripeClient = () => (lib.stripeClient ??= new (load('stripe'))('sk_test_unused'));
const paddle = () => {
  if (!lib.paddle) {
    const { Paddle, WebhooksValidator } = load('@paddle/paddle-node-sdk');
    new Paddle('pdl_sdbx_apikey_unused'); // sets up the SDK's crypto runtime for WebhooksValidator
    lib.paddle = new WebhooksValidator();
  }
  return lib.paddle;
};
const octokit = async () => (lib.octokit ??= await import('@octokit/webhooks-methods'));
const linear = async (secret) => new (await import('@linear/sdk/webhooks')).LinearWebhookClient(secret);

const hmac = (alg, key, msg, enc) => crypto.createHmac(alg, key).update(msg).digest(enc);
const formParams = (body) => {
  const out = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if (k in out) out[k] = [].concat(out[k], v); else out[k] = v;
  }
  return out;
};
const lower = (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

async function sign(c) {
  const ts = c.ts ?? Math.floor(Date.now() / 1000); // no ts: signed now (Paddle's library allows 5 s)
  switch (c.preset) {
    case 'stripe': {
      const header = stripeClient().webhooks.generateTestHeaderString({ payload: c.body, secret: c.secret, timestamp: ts });
      let libOK = true;
      try { stripeClient().webhooks.constructEvent(c.body, header, c.secret, 1e9); } catch { libOK = false; }
      return { headers: { 'Stripe-Signature': header }, libOK };
    }
    case 'github': case 'meta': {
      const sig = await (await octokit()).sign(c.secret, c.body);
      return { headers: { 'X-Hub-Signature-256': sig }, libOK: await (await octokit()).verify(c.secret, c.body, sig) };
    }
    case 'standard': {
      if (c.private) {
        // v1a: Ed25519 over the spec's signed content "<id>.<ts>.<body>",
        // sent as "v1a,<base64 signature>" (no library signs it).
        const key = crypto.createPrivateKey({ key: Buffer.from(c.private, 'base64'), format: 'der', type: 'pkcs8' });
        const msg = Buffer.from(`${c.id}.${ts}.${c.body}`);
        const sig = crypto.sign(null, msg, key);
        const pub = crypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(c.public.slice(5), 'base64')]), format: 'der', type: 'spki' });
        return { headers: { 'webhook-id': c.id, 'webhook-timestamp': String(ts), 'webhook-signature': 'v1a,' + sig.toString('base64') }, libOK: crypto.verify(null, msg, pub, sig) };
      }
      const wh = new (load('standardwebhooks').Webhook)(c.secret);
      const sig = wh.sign(c.id, new Date(ts * 1000), c.body);
      const headers = { 'webhook-id': c.id, 'webhook-timestamp': String(ts), 'webhook-signature': sig };
      let libOK = true;
      try { wh.verify(c.body, headers); } catch { libOK = false; }
      return { headers, libOK };
    }
    case 'svix': case 'clerk': case 'resend': {
      const wh = new (load('svix').Webhook)(c.secret);
      const sig = wh.sign(c.id, new Date(ts * 1000), c.body);
      const headers = { 'svix-id': c.id, 'svix-timestamp': String(ts), 'svix-signature': sig };
      let libOK = true;
      try { wh.verify(c.body, headers); } catch { libOK = false; }
      return { headers, libOK };
    }
    case 'twilio': {
      if (c.contentType === 'application/json') {
        // A JSON body: Twilio appends bodySHA256 to the URL and signs the URL alone.
        const url = c.url + (c.url.includes('?') ? '&' : '?') + 'bodySHA256=' + load('twilio').getExpectedBodyHash(c.body);
        const sig = load('twilio').getExpectedTwilioSignature(c.secret, url, {});
        return { headers: { 'X-Twilio-Signature': sig }, libOK: load('twilio').validateRequestWithBody(c.secret, sig, url, c.body) };
      }
      const params = formParams(c.body);
      const sig = load('twilio').getExpectedTwilioSignature(c.secret, c.url, params);
      return { headers: { 'X-Twilio-Signature': sig }, libOK: load('twilio').validateRequest(c.secret, sig, c.url, params) };
    }
    case 'square': {
      const sig = hmac('sha256', c.secret, c.url + c.body, 'base64');
      const libOK = await load('square').WebhooksHelper.verifySignature({ requestBody: c.body, signatureHeader: sig, signatureKey: c.secret, notificationUrl: c.url });
      return { headers: { 'X-Square-Hmacsha256-Signature': sig }, libOK };
    }
    case 'paddle': {
      const validator = paddle(); // load the SDK first: its window is 5 s
      const pts = c.ts ?? Math.floor(Date.now() / 1000);
      const header = `ts=${pts};h1=${hmac('sha256', c.secret, `${pts}:${c.body}`, 'hex')}`;
      const libOK = await validator.isValidSignature(c.body, c.secret, header);
      return { headers: { 'Paddle-Signature': header }, libOK };
    }
    case 'hubspot': {
      const ms = c.tsMillis ?? Date.now();
      const sig = hmac('sha256', c.secret, 'POST' + c.url + c.body + ms, 'base64');
      let libOK;
      try {
        libOK = load('@hubspot/api-client').Signature.isValid({ signatureVersion: 'v3', signature: sig, method: 'POST', clientSecret: c.secret, requestBody: c.body, url: c.url, timestamp: ms });
      } catch { libOK = false; }
      return { headers: { 'X-HubSpot-Signature-v3': sig, 'X-HubSpot-Request-Timestamp': String(ms) }, libOK };
    }
    case 'linear': {
      if (c.body.includes('WEBHOOK_TS')) c.body = c.body.replace('WEBHOOK_TS', String(c.tsMillis ?? Date.now()));
      const sig = hmac('sha256', c.secret, c.body, 'hex');
      let libOK = true;
      try { (await linear(c.secret)).verify(Buffer.from(c.body), sig); } catch { libOK = false; }
      return { headers: { 'Linear-Signature': sig }, body: c.body, libOK };
    }
    case 'slack': case 'zoom': {
      // No official signing or verifying library; Slack's documented
      // algorithm (its published vector is checked in Go) and Zoom's.
      const sig = 'v0=' + hmac('sha256', c.secret, `v0:${ts}:${c.body}`, 'hex');
      return c.preset === 'slack'
        ? { headers: { 'X-Slack-Signature': sig, 'X-Slack-Request-Timestamp': String(ts) }, libOK: true }
        : { headers: { 'x-zm-signature': sig, 'x-zm-request-timestamp': String(ts) }, libOK: true };
    }
    case 'shopify':
      return { headers: { 'X-Shopify-Hmac-Sha256': hmac('sha256', c.secret, c.body, 'base64') }, libOK: true };
    case 'x': case 'twitter':
      // X's documented algorithm: sha256=base64(HMAC-SHA256(consumer secret, body)).
      return { headers: { 'x-twitter-webhooks-signature': 'sha256=' + hmac('sha256', c.secret, c.body, 'base64') }, libOK: true };
    case 'discord': {
      const key = crypto.createPrivateKey({ key: Buffer.from(c.private, 'base64'), format: 'der', type: 'pkcs8' });
      const sig = crypto.sign(null, Buffer.from(String(ts) + c.body), key).toString('hex');
      const libOK = await load('discord-interactions').verifyKey(c.body, sig, String(ts), c.public);
      return { headers: { 'X-Signature-Ed25519': sig, 'X-Signature-Timestamp': String(ts) }, libOK };
    }
    case 'sendgrid': {
      const key = crypto.createPrivateKey({ key: Buffer.from(c.private, 'base64'), format: 'der', type: 'pkcs8' });
      const sig = crypto.sign('sha256', Buffer.from(String(ts) + c.body), key).toString('base64');
      const ew = new (load('@sendgrid/eventwebhook').EventWebhook)();
      const libOK = ew.verifySignature(ew.convertPublicKeyToECDSA(c.public), c.body, sig, String(ts));
      return { headers: { 'X-Twilio-Email-Event-Webhook-Signature': sig, 'X-Twilio-Email-Event-Webhook-Timestamp': String(ts) }, libOK };
    }
  }
  throw new Error('no signer for preset ' + c.preset);
}

// verify checks a stored delivery (body + kept headers) with the library.
async function verify(c) {
  const h = lower(c.headers);
  switch (c.preset) {
    case 'stripe': stripeClient().webhooks.constructEvent(c.body, h['stripe-signature'], c.secret); return true;
    case 'github': return (await octokit()).verify(c.secret, c.body, h['x-hub-signature-256']);
    case 'standard': new (load('standardwebhooks').Webhook)(c.secret).verify(c.body, h); return true;
    case 'svix': case 'clerk': case 'resend': new (load('svix').Webhook)(c.secret).verify(c.body, h); return true;
    case 'twilio': return load('twilio').validateRequest(c.secret, h['x-twilio-signature'], c.url, formParams(c.body));
    case 'square': return load('square').WebhooksHelper.verifySignature({ requestBody: c.body, signatureHeader: h['x-square-hmacsha256-signature'], signatureKey: c.secret, notificationUrl: c.url });
    case 'paddle': return paddle().isValidSignature(c.body, c.secret, h['paddle-signature']);
    case 'discord': return load('discord-interactions').verifyKey(c.body, h['x-signature-ed25519'], h['x-signature-timestamp'], c.public);
    case 'sendgrid': {
      const ew = new (load('@sendgrid/eventwebhook').EventWebhook)();
      return ew.verifySignature(ew.convertPublicKeyToECDSA(c.public), c.body, h['x-twilio-email-event-webhook-signature'], h['x-twilio-email-event-webhook-timestamp']);
    }
    case 'linear': return (await linear(c.secret)).verify(Buffer.from(c.body), h['linear-signature']);
  }
  throw new Error('no verifier for preset ' + c.preset);
}

function keys(c) {
  if (c.preset === 'standard') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    return { public: 'whpk_' + raw.toString('base64'), private: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64') };
  }
  if (c.preset === 'discord') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    return { public: raw.toString('hex'), private: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64') };
  }
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    public: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    private: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
  };
}

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => { s += d; }).on('end', () => resolve(s));
}));
const out = [];
for (const c of input.cases) {
  if (input.op === 'keys') { out.push(keys(c)); continue; }
  if (input.op === 'verify') {
    try { out.push({ ok: Boolean(await verify(c)) }); } catch (e) { out.push({ ok: false, err: String(e) }); }
    continue;
  }
  out.push(await sign(c));
}
process.stdout.write(JSON.stringify(out));
