import { encodeRequest, readRoutingView } from '../../dubbo-codec';
import { readArgumentKey } from './argument-reader';

function body(parameterTypes: string, args: unknown[]): Buffer {
  return encodeRequest({ requestId: 1n, path: 'org.demo.Svc', method: 'm', parameterTypes, args }).subarray(16);
}

function keys(parameterTypes: string, args: unknown[]): unknown[] {
  const b = body(parameterTypes, args);
  const view = readRoutingView(b);
  return args.map((_, i) => readArgumentKey(b, view, i));
}

describe('readArgumentKey', () => {
  it('reads string and number arguments past a DTO, a list and a map it does not decode', () => {
    const dto = { $class: 'org.demo.User', $: { name: 'ann', tags: ['a'] } };
    expect(keys('Lorg/demo/User;Ljava/util/List;Ljava/util/Map;Ljava/lang/String;IJD', [dto, ['x'], { k: 'v' }, 'hot', 7, { $class: 'long', $: 2 ** 40 }, 1.5])).toEqual([
      undefined,
      undefined,
      undefined,
      'hot',
      7,
      2 ** 40,
      1.5,
    ]);
  });

  it('keys a long beyond 2^53 by its decimal string, and a null as no key', () => {
    expect(keys('JLjava/lang/String;', [{ $class: 'long', $: 2n ** 60n }, null])).toEqual([String(2n ** 60n), undefined]);
  });

  it('gives no key past the declared arguments (never the attachments), nor for broken bytes', () => {
    const b = body('Ljava/lang/String;', ['a']);
    const view = readRoutingView(b);
    expect(readArgumentKey(b, view, 1)).toBeUndefined();
    expect(readArgumentKey(b, view, -1)).toBeUndefined();
    const cut = body('Lorg/demo/User;Ljava/lang/String;', [{ $class: 'org.demo.User', $: { name: 'x' } }, 'k']);
    const cutView = readRoutingView(cut);
    expect(readArgumentKey(cut.subarray(0, cutView.argumentsOffset + 4), cutView, 1)).toBeUndefined();
  });
});
