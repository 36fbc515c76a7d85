// The seed's acceptance profile: ramp to 500 virtual users, each POSTing one
// webhook then sleeping 100 ms. Passes when fewer than 1 % of requests fail
// and the 95th percentile of the 202s is under 100 ms.
//   k6 run loadtest/k6/seed.js                     # against make run
//   TARGET_URL=http://localhost k6 run       loadtest/k6/seed.js
// k6 does not check that every accepted event became a row: the Go runner
// (go run ./loadtest) runs this same profile and that audit.
import { sleep } from 'k6';
import { postEvent } from './lib.js';

export const options = {
  stages: [
    { duration: '30s', target: 50 },
    { duration: '1m', target: 200 },
    { duration: '2m', target: 500 },
    { duration: '1m', target: 500 },
    { duration: '30s', target: 0 },
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
