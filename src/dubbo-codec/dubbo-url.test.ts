import {
  dubboUrl,
  formatDubboUrl,
  parseDubboUrl,
  parseZnodeName,
  toZnodeName,
  urlAddress,
  urlGroup,
  urlInterface,
  urlMethods,
  urlVersion,
  urlWeight,
} from './dubbo-url';

// A provider znode name as Java Dubbo 2.7 writes it: the URL encoded once, so `,` is `%2C`.
const JAVA_NAME =
  'dubbo%3A%2F%2F10.0.0.7%3A20880%2Fcom.example.GreetingService%3Fanyhost%3Dtrue%26application%3Ddemo-provider%26dubbo%3D2.0.2' +
  '%26group%3Dblue%26interface%3Dcom.example.GreetingService%26methods%3DsayHello%2CsayBye%26side%3Dprovider%26timestamp%3D1700000000000' +
  '%26version%3D1.0.0%26weight%3D50';

describe('dubbo URLs', () => {
  it('reads a provider znode name written by Java Dubbo', () => {
    const url = parseZnodeName(JAVA_NAME);
    expect(url).toMatchObject({ protocol: 'dubbo', host: '10.0.0.7', port: 20880, path: 'com.example.GreetingService' });
    expect(urlInterface(url)).toBe('com.example.GreetingService');
    expect(urlVersion(url)).toBe('1.0.0');
    expect(urlGroup(url)).toBe('blue');
    expect(urlMethods(url)).toEqual(['sayHello', 'sayBye']);
    expect(urlWeight(url)).toBe(50);
    expect(urlAddress(url)).toBe('10.0.0.7:20880');
  });

  it('reads parameter values encoded twice the same as once', () => {
    // methods=sayHello%2CsayBye inside the URL, then the URL encoded again: %252C in the name.
    const twice = JAVA_NAME.replace('sayHello%2CsayBye', 'sayHello%252CsayBye');
    expect(urlMethods(parseZnodeName(twice))).toEqual(['sayHello', 'sayBye']);
    // And a whole name encoded twice.
    expect(parseZnodeName(encodeURIComponent(JAVA_NAME))).toEqual(parseZnodeName(JAVA_NAME));
  });

  it('formats a URL that parses back to itself and a znode name Java can read', () => {
    const url = dubboUrl('dubbo', '127.0.0.1', 20880, 'com.example.Echo', {
      interface: 'com.example.Echo',
      methods: 'echo,ping',
      note: 'a&b=c 100%',
      version: '2.0.0',
    });
    expect(formatDubboUrl(url)).toBe('dubbo://127.0.0.1:20880/com.example.Echo?interface=com.example.Echo&methods=echo,ping&note=a%26b%3Dc%20100%25&version=2.0.0');
    expect(parseDubboUrl(formatDubboUrl(url))).toEqual(url);
    expect(parseZnodeName(toZnodeName(url))).toEqual(url);
    expect(toZnodeName(url)).toContain('methods%3Decho%2Cping');
  });

  it('reads consumer URLs without a port, and IPv6 hosts', () => {
    const consumer = parseDubboUrl('consumer://10.1.2.3/com.example.Echo?category=consumers&side=consumer');
    expect(consumer).toMatchObject({ protocol: 'consumer', host: '10.1.2.3', port: 0, path: 'com.example.Echo' });
    expect(consumer.params.get('category')).toBe('consumers');
    expect(parseDubboUrl('dubbo://[::1]:20880/x.Y')).toMatchObject({ host: '[::1]', port: 20880, path: 'x.Y' });
  });

  it('falls back to Dubbo defaults for missing or bad parameters', () => {
    const url = parseDubboUrl('dubbo://h:1/a.B?weight=heavy');
    expect(urlWeight(url)).toBe(100);
    expect(urlVersion(url)).toBe('');
    expect(urlMethods(url)).toEqual([]);
    expect(urlInterface(url)).toBe('a.B');
  });

  it.each([
    ['not a url', 'not a URL'],
    ['dubbo://h:70000/x', 'out of range'],
    ['dubbo://h:1/x?=v', 'without a name'],
  ])('rejects %p with DUBBO_BAD_URL and the value', (text, why) => {
    expect(() => parseDubboUrl(text)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_URL', value: text, message: expect.stringContaining(why) }));
  });

  it('rejects znode names that are not encoded URLs', () => {
    expect(() => parseZnodeName('%E0%A4%A')).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_URL' }));
    expect(() => parseZnodeName('10.0.0.1:20880')).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_URL', value: '10.0.0.1:20880' }));
  });
});
