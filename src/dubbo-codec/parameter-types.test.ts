import { countParameters, formatParameterDescriptor, parseParameterDescriptor } from './parameter-types';

describe('parameter descriptors', () => {
  it('lists the Java types of a descriptor', () => {
    expect(parseParameterDescriptor('Ljava/lang/String;[IJ')).toEqual(['java.lang.String', 'int[]', 'long']);
    expect(parseParameterDescriptor('[[Ljava/util/Map;ZBCDFS')).toEqual(['java.util.Map[][]', 'boolean', 'byte', 'char', 'double', 'float', 'short']);
    expect(parseParameterDescriptor('')).toEqual([]);
  });

  it('formats Java type names back to the same descriptor', () => {
    const descriptor = 'Ljava/lang/String;[IJ[[Lcom/example/Order;Z';
    expect(formatParameterDescriptor(parseParameterDescriptor(descriptor))).toBe(descriptor);
    expect(formatParameterDescriptor(['[Ljava.lang.String;', '[I'])).toBe('[Ljava/lang/String;[I');
  });

  it('counts parameters without building the list', () => {
    expect(countParameters('Ljava/lang/String;[IJ')).toBe(3);
    expect(countParameters('')).toBe(0);
  });

  it.each([
    ['Ljava/lang/String', 0, 'unterminated'],
    ['IQ', 1, "unknown type code 'Q'"],
    ['I[', 2, 'array without'],
    ['L;', 0, 'empty class name'],
  ])('rejects %p with the offset of the bad type', (descriptor, where, why) => {
    expect(() => parseParameterDescriptor(descriptor)).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_DESCRIPTOR', where, value: descriptor }));
    expect(() => countParameters(descriptor)).toThrow(expect.objectContaining({ message: expect.stringContaining(why) }));
  });

  it('rejects a type name that is not Java', () => {
    expect(() => formatParameterDescriptor(['java.lang.String', 'not a type'])).toThrow(expect.objectContaining({ code: 'DUBBO_BAD_DESCRIPTOR', value: 'not a type' }));
  });
});
