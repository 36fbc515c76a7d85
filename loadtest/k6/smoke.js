// A short run of the seed's script: 10 virtual users for 20 seconds, same
// envelope, same thresholds. Use it to check a stack answers before the
// full seed.js.
//   k6 run loadtest/k6/smoke.js
import { sleep } from 'k6';
import { postEvent } from './lib.js';

export const options = {
  stages: [
    { duration: '5s', target: 10 },
    { duration: '10s', target: 10 },
    { duration: '5s', target: 0 },
  ],
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{expected_response:true}': ['p(95)<100'],
  },
};

export default function () {
  postEvent();
  sleep(0.1);
}
