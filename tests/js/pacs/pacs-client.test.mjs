import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PacsClient, PacsRequestError } from '../../../frontend/static/frontend/js/pacs/pacs-client.js';

/** A fetch that records calls and answers from a list of [status, body]. */
function fakeFetch(answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    const [status, body] = answers.shift();
    if (status === 'network') throw new TypeError('Failed to fetch');
    return {
      ok: status >= 200 && status < 300,
      status,
      json: async () => {
        if (typeof body === 'string') throw new SyntaxError('not JSON');
        return body;
      },
    };
  };
  return { fetch, calls };
}

test('searches go to the node under the mounted root', async () => {
  const { fetch, calls } = fakeFetch([[200, { node: 'a b', level: 'STUDY', truncated: false, results: [] }]]);
  const client = new PacsClient({ root: '/sub/pacs', csrfToken: 't', fetch });
  const answer = await client.search('a b', 'level=STUDY&patient_id=1');
  assert.equal(answer.level, 'STUDY');
  assert.equal(calls[0].url, '/sub/pacs/nodes/a%20b/search?level=STUDY&patient_id=1');
  assert.equal(calls[0].init.method, 'GET');
  assert.equal(calls[0].init.credentials, 'same-origin');
});

test('a retrieve is a JSON POST carrying the CSRF token', async () => {
  const job = { id: 3, state: 'queued' };
  const { fetch, calls } = fakeFetch([[202, { job, created: true }]]);
  const client = new PacsClient({ root: '/pacs/', csrfToken: 'secret', fetch });
  const answer = await client.retrieve({ node: 'orthanc', study_instance_uid: '1.2.3' });
  assert.deepEqual(answer.job, job);
  assert.equal(calls[0].url, '/pacs/retrieve');
  assert.equal(calls[0].init.method, 'POST');
  assert.equal(calls[0].init.headers['X-CSRFToken'], 'secret');
  assert.equal(calls[0].init.headers['Content-Type'], 'application/json');
  assert.deepEqual(JSON.parse(calls[0].init.body), { node: 'orthanc', study_instance_uid: '1.2.3' });
});

test('job, active jobs of a study, cancel and priors unwrap their answers', async () => {
  const { fetch, calls } = fakeFetch([
    [200, { job: { id: 5 } }],
    [200, { jobs: [{ id: 5 }] }],
    [200, { job: { id: 5, state: 'cancelled' } }],
    [200, { patient_id: 'P&1', studies: [], errors: {} }],
  ]);
  const client = new PacsClient({ root: '/pacs/', csrfToken: 't', fetch });
  assert.deepEqual(await client.job(5), { id: 5 });
  assert.deepEqual(await client.activeJobs('1.2'), [{ id: 5 }]);
  assert.equal((await client.cancel(5)).state, 'cancelled');
  assert.equal((await client.priors('P&1')).patient_id, 'P&1');
  assert.deepEqual(
    calls.map((c) => c.url),
    ['/pacs/jobs/5', '/pacs/jobs/?study=1.2&active=1', '/pacs/jobs/5/cancel', '/pacs/priors?patient_id=P%261'],
  );
});

test('priors name the issuer of the patient ID when it is known', async () => {
  const { fetch, calls } = fakeFetch([[200, { studies: [] }], [200, { studies: [] }]]);
  const client = new PacsClient({ root: '/pacs/', csrfToken: 't', fetch });
  await client.priors('12345', 'HOSP&A');
  await client.priors('12345', '');
  assert.deepEqual(
    calls.map((c) => c.url),
    ['/pacs/priors?patient_id=12345&issuer=HOSP%26A', '/pacs/priors?patient_id=12345'],
  );
});

test('the server’s own error sentence reaches the user; a PACS failure says so', async () => {
  const { fetch } = fakeFetch([
    [502, { error: 'association rejected by ORTHANC' }],
    [400, { error: 'give at least one search term' }],
    [500, '<html>oops</html>'],
    ['network'],
  ]);
  const client = new PacsClient({ root: '/pacs/', csrfToken: 't', fetch });
  await assert.rejects(client.search('o', 'level=STUDY'), (e) => {
    assert.ok(e instanceof PacsRequestError);
    assert.equal(e.status, 502);
    assert.equal(e.message, 'The PACS did not answer: association rejected by ORTHANC');
    return true;
  });
  await assert.rejects(client.search('o', 'level=STUDY'), { status: 400, message: 'give at least one search term' });
  await assert.rejects(client.nodes(), { status: 500, message: 'HTTP 500' });
  await assert.rejects(client.nodes(), { status: 0, message: 'The server could not be reached.' });
});
