/**
 * The failpoint bookkeeping of the kill -9 layer: how a child is armed (KILL_FAILPOINT, test code
 * only), how it says where it died (a stderr mark), and what makes a run fail (a failpoint of the
 * run never reached). The kill run itself (kill.test.ts) asserts the counts.
 */
import assert from 'node:assert/strict';
import {
  FAILPOINTS,
  FAILPOINT_MARK,
  failpointMark,
  isFailpointName,
  parseFailpointSpec,
} from './protocol.js';
import { emptyStats, unreachedFailpoints } from './stats.js';

describe('kill test failpoints', function () {
  it('arms a child only with a known failpoint and a hit count >= 1', function () {
    assert.equal(parseFailpointSpec(undefined), undefined);
    assert.equal(parseFailpointSpec(''), undefined);
    assert.deepEqual(parseFailpointSpec('kill-player-handoff'), {
      name: 'kill-player-handoff',
      hit: 1,
    });
    assert.deepEqual(parseFailpointSpec('kill-frame-payload:7'), {
      name: 'kill-frame-payload',
      hit: 7,
    });
    for (const bad of ['kill-nowhere:1', 'kill-frame-payload:0', 'kill-frame-payload:x', 'a:1:2']) {
      assert.throws(() => parseFailpointSpec(bad), /KILL_FAILPOINT/, bad);
    }
    assert.ok(FAILPOINTS.every(isFailpointName));
    assert.equal(isFailpointName('kill-nowhere'), false);
  });

  it('reads the failpoint a child died at from its stderr mark', function () {
    assert.equal(failpointMark(`${FAILPOINT_MARK} kill-hints-write 3`), 'kill-hints-write');
    assert.equal(failpointMark(`${FAILPOINT_MARK} kill-nowhere 1\r`), 'kill-nowhere');
    assert.equal(failpointMark('(node:123) Warning: something'), undefined);
    assert.equal(failpointMark(FAILPOINT_MARK), undefined);
  });

  it('lists the failpoints of a run that no child reached', function () {
    const stats = emptyStats();
    const run = ['kill-frame-payload', 'kill-hints-write'];
    assert.deepEqual(unreachedFailpoints(stats, run), run);
    stats.byFailpoint['kill-hints-write'] = 2;
    assert.deepEqual(unreachedFailpoints(stats, run), ['kill-frame-payload']);
    stats.byFailpoint['kill-frame-payload'] = 1;
    assert.deepEqual(unreachedFailpoints(stats, run), []);
  });
});
