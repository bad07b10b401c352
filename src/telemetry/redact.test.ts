import { REDACTED, Redactor } from './redact';

describe('redaction of secrets', () => {
  const redactor = new Redactor();

  it('masks Dubbo URL parameters and Eureka metadata that look like secrets, keeping the keys', () => {
    expect(redactor.labels({ token: 'abc123', 'db.password': 'hunter2', dbPassword: 'x', zone: 'a', application: 'demo' })).toEqual({
      token: REDACTED,
      'db.password': REDACTED,
      dbPassword: REDACTED,
      zone: 'a',
      application: 'demo',
    });
  });

  it('masks secret parameters inside URLs', () => {
    expect(redactor.text('dubbo://10.0.0.1:20880/a.B?application=x&token=s3cret&version=1')).toBe(`dubbo://10.0.0.1:20880/a.B?application=x&token=${REDACTED}&version=1`);
    expect(redactor.text('no secrets here')).toBe('no secrets here');
    expect(redactor.text('http://eureka:p4ss@10.0.0.1:8761/eureka/')).toBe(`http://${REDACTED}@10.0.0.1:8761/eureka/`);
    expect(redactor.text('mail me@example.com')).toBe('mail me@example.com');
  });

  it('masks nested objects, such as log lines and headers', () => {
    expect(redactor.value({ msg: 'x', instance: { labels: { apiKey: 'k' } }, headers: { authorization: 'Bearer t' } })).toEqual({
      msg: 'x',
      instance: { labels: { apiKey: REDACTED } },
      headers: { authorization: REDACTED },
    });
  });

  it('takes its own list of words', () => {
    const custom = new Redactor(['pin']);
    expect(custom.labels({ pinCode: '1234', token: 't' })).toEqual({ pinCode: REDACTED, token: 't' });
  });
});
