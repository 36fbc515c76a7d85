// Shared by seed.js and smoke.js. No remote imports: ids are generated here,
// so the scripts run offline with a bare k6 binary.
import http from 'k6/http';
import { check } from 'k6';

// TARGET_URL is the ingress base URL: the local `make run` stack by default,
// http://localhost (port 80, mapped to the Traefik Gateway) on the kind cluster; see
// loadtest/README.md.
export const TARGET_URL = (__ENV.TARGET_URL || 'http://localhost:8080').replace(/\/+$/, '');
export const PROVIDER = __ENV.PROVIDER || 'loadtest';

// uuidv4 from Math.random: unique enough for event ids, and local.
export function uuidv4() {
  return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
  });
}

// postEvent sends one webhook in the seed's envelope and checks the 202.
export function postEvent() {
  const body = JSON.stringify({
    provider: PROVIDER,
    eventId: uuidv4(),
    timestamp: new Date().toISOString(),
    data: { type: 'payment.succeeded', amount: Math.floor(Math.random() * 100000), currency: 'eur' },
  });
  const res = http.post(`${TARGET_URL}/webhooks/${PROVIDER}`, body, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'webhook' },
    responseCallback: http.expectedStatuses(202),
  });
  check(res, {
    'status is 202': (r) => r.status === 202,
    'accepted': (r) => r.status === 202 && r.json('accepted') === true,
  }, { status: String(res.status) });
  return res;
}
