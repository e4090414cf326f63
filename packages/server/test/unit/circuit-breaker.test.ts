import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker } from '../../src/delivery/circuit-breaker.ts';

const breaker = () => new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, maxCooldownMs: 3000 });

test('failures below the threshold only mark the destination failing; a success heals it', () => {
  const circuit = breaker();
  assert.equal(circuit.state, 'healthy');
  circuit.failed(0);
  circuit.failed(0);
  assert.equal(circuit.state, 'failing');
  assert.equal(circuit.consecutiveFailures, 2);
  assert.equal(circuit.allowance(8, 0), 8);
  circuit.succeeded();
  assert.equal(circuit.state, 'healthy');
  assert.equal(circuit.consecutiveFailures, 0);
});

test('the threshold pauses sends until the cooldown, then lets exactly one probe through', () => {
  const circuit = breaker();
  for (let i = 0; i < 3; i++) circuit.failed(10_000);
  assert.equal(circuit.state, 'paused');
  assert.equal(circuit.allowance(8, 10_500), 0);
  assert.equal(circuit.msUntilProbe(10_500), 500);
  assert.equal(circuit.allowance(8, 11_000), 1, 'one probe after the cooldown');
  assert.equal(circuit.allowance(8, 11_001), 0, 'no second send while the probe is out');
  assert.equal(circuit.msUntilProbe(11_001), Number.POSITIVE_INFINITY);
});

test('a failed probe pauses again for twice as long, capped; a successful one closes the circuit', () => {
  const circuit = breaker();
  for (let i = 0; i < 3; i++) circuit.failed(0);
  assert.equal(circuit.allowance(1, 1000), 1);
  circuit.failed(1000);
  assert.equal(circuit.state, 'paused');
  assert.equal(circuit.msUntilProbe(1000), 2000);
  assert.equal(circuit.allowance(1, 3000), 1);
  circuit.failed(3000);
  assert.equal(circuit.msUntilProbe(3000), 3000, 'capped at maxCooldownMs');
  assert.equal(circuit.allowance(1, 6000), 1);
  circuit.failed(6000);
  assert.equal(circuit.msUntilProbe(6000), 3000);
  assert.equal(circuit.allowance(4, 9000), 1);
  circuit.succeeded();
  assert.equal(circuit.state, 'healthy');
  assert.equal(circuit.allowance(4, 9000), 4);
  for (let i = 0; i < 3; i++) circuit.failed(20_000);
  assert.equal(circuit.msUntilProbe(20_000), 1000, 'the cooldown starts over after a recovery');
});

test('failures reported while paused (sends that were already in flight) do not extend the pause', () => {
  const circuit = breaker();
  for (let i = 0; i < 3; i++) circuit.failed(0);
  circuit.failed(500);
  circuit.failed(900);
  assert.equal(circuit.msUntilProbe(900), 100);
});
