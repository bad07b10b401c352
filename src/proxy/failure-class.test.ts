import { OUTCOMES, blameOf, dubboStatusFor, failureLabels, httpStatusFor, isError, isGatewayFailure } from './failure-class';

describe('failure classes', () => {
  it('never blames an upstream for a caller that hung up', () => {
    expect(blameOf('caller_gone')).toBe('caller');
    expect(isGatewayFailure('caller_gone')).toBe(false);
    expect(isError('caller_gone')).toBe(false);
  });

  it('counts an application exception as an error of the application, never a dead instance', () => {
    expect(blameOf('application_exception')).toBe('application');
    expect(isError('application_exception')).toBe(true);
    expect(isGatewayFailure('application_exception')).toBe(false);
  });

  it('keeps slow answers out of the consecutive-failure streak', () => {
    expect(isGatewayFailure('response_timeout')).toBe(false);
    expect(blameOf('response_timeout')).toBe('upstream');
    for (const o of ['connect_failure', 'connect_timeout', 'reset', 'upstream_overloaded'] as const) expect(isGatewayFailure(o)).toBe(true);
  });

  it('maps local replies to each protocol once', () => {
    expect(dubboStatusFor('response_timeout')).toBe(31);
    expect(dubboStatusFor('bridge_refusal', 'overloaded')).toBe(100);
    expect(dubboStatusFor('bridge_refusal', 'no_instance')).toBe(60);
    expect(dubboStatusFor('bridge_refusal', 'draining')).toBe(100);
    expect(httpStatusFor('connect_failure')).toBe(502);
    expect(httpStatusFor('bridge_refusal', 'rate_limited')).toBe(429);
    for (const o of OUTCOMES) expect(blameOf(o)).toBeDefined();
  });

  it('labels a failure by its outcome, and a bridge refusal by its kind too', () => {
    expect(failureLabels('bridge_refusal', 'rate_limited')).toEqual({ reason: 'bridge_refusal', refusal: 'rate_limited' });
    expect(failureLabels('caller_gone')).toEqual({ reason: 'caller_gone' });
    // The kind a caller would answer with is not a label of a failure that is no refusal.
    expect(failureLabels('reset', 'overloaded')).toEqual({ reason: 'reset' });
  });
});
