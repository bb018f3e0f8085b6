/**
 * The read-ahead feed when its consumer cannot be created promptly, without a server. After a
 * stream leader's SIGKILL the server can place a new (R1) consumer on the dead node; its create
 * request then only ends with the client's 5 s timeout, and a reader waiting on the feed waited
 * that long (the demo's first recovery after a leader kill took 5.2-5.4 s for 50 KB). While a
 * replica of the stream is not current, a reader must give up on such a feed within the consumer
 * wait and read from the leader instead; with every replica current a slow create is waited for.
 */
import assert from 'node:assert/strict';
import type { NatsSession } from '../../src/journal/jetstream-client.js';
import { ReadAhead } from '../../src/journal/jetstream-read-ahead.js';

/**
 * A session whose consumer creates never answer (the request to a dead node), and whose stream
 * info tells whether each replica is current.
 */
function hangingConsumers(replicasCurrent: boolean[]): {
  session: NatsSession;
  creates: () => number;
} {
  let creates = 0;
  const replicas = replicasCurrent.map((current, i) => ({ name: `n${i + 2}`, current }));
  const session = {
    jsm: { streams: { info: async () => ({ cluster: { leader: 'n1', replicas } }) } },
    js: {
      consumers: {
        get: () => {
          creates += 1;
          return new Promise(() => undefined);
        },
      },
    },
    modules: { jetstream: { DeliverPolicy: { StartSequence: 'by_start_sequence' } } },
  };
  return { session: session as unknown as NatsSession, creates: () => creates };
}

describe('JetStream read-ahead feeds', function () {
  it('with a replica not current, a reader stops waiting for a consumer not created within the wait', async function () {
    // On the old code the arrival waited for the create (here: forever); mocha's timeout fails it.
    this.timeout(5000);
    const { session, creates } = hangingConsumers([true, false]);
    const readAhead = new ReadAhead(
      session,
      { stream: 'S', subject: 's' },
      () => assert.fail('nothing is delivered'),
      8 * 1024 * 1024,
      50,
    );
    readAhead.want(1, 100);
    assert.equal(creates(), 1);
    const arriving = readAhead.arrival(1);
    assert.ok(arriving !== undefined, 'the reader first waits for the new feed');
    await arriving;
    // The feed is given up: readers go to the leader, and no new consumer is created at once.
    assert.equal(readAhead.arrival(2), undefined);
    readAhead.want(2, 100);
    assert.equal(creates(), 1, 'a new feed waits for the retry pause');
    assert.equal(readAhead.arrival(3), undefined);
    readAhead.close();
  });

  it('with every replica current, a slow consumer create is waited for (the feed is kept)', async function () {
    const { session, creates } = hangingConsumers([true, true]);
    const readAhead = new ReadAhead(
      session,
      { stream: 'S', subject: 's' },
      () => assert.fail('nothing is delivered'),
      8 * 1024 * 1024,
      20,
    );
    readAhead.want(1, 100);
    let arrived = false;
    void readAhead.arrival(1)?.then(() => {
      arrived = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(arrived, false, 'still waiting for the create, five waits later');
    assert.ok(readAhead.arrival(2) !== undefined, 'the feed is kept');
    assert.equal(creates(), 1);
    readAhead.close();
  });
});
