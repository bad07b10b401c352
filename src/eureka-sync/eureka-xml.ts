// A small XML reader and writer for Eureka's fixed schema (instances and applications): elements,
// attributes, text, entities, CDATA and comments. No namespaces, no DTDs: Eureka uses neither.
import { MeshBridgeError } from '../errors';

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Deepest element nesting accepted: Eureka's documents nest four levels; the parser holds a stack per level. */
export const MAX_XML_DEPTH = 32;

/** A character reference's code point, refused unless XML allows the character (Char in XML 1.0). */
function characterReference(match: string, codePoint: number, where: number): string {
  const allowed =
    codePoint === 0x9 || codePoint === 0xa || codePoint === 0xd || (codePoint >= 0x20 && codePoint <= 0xd7ff) || (codePoint >= 0xe000 && codePoint <= 0xfffd) || (codePoint >= 0x10000 && codePoint <= 0x10ffff);
  if (!allowed) throw badXml(`XML character reference ${match} is not a character XML allows`, match, where);
  return String.fromCodePoint(codePoint);
}

function decodeEntities(text: string, where: number): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]{1,8}|#[0-9]{1,10}|[a-zA-Z]+);/g, (match, body: string) => {
    if (body.startsWith('#x')) return characterReference(match, parseInt(body.slice(2), 16), where);
    if (body.startsWith('#')) return characterReference(match, parseInt(body.slice(1), 10), where);
    const named = NAMED_ENTITIES[body];
    if (named === undefined) throw badXml(`unknown XML entity ${match}`, match, where);
    return named;
  });
}

function badXml(message: string, value: unknown, where: number): MeshBridgeError {
  return new MeshBridgeError('EUREKA_BAD_PAYLOAD', message, { value, where: `xml@${where}` });
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ATTRIBUTE = /\s*([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("([^"]*)"|'([^']*)')/y;

/** Parses one XML document into its root element. Throws EUREKA_BAD_PAYLOAD on malformed input. */
export function parseXml(source: string): XmlElement {
  let pos = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const skipMisc = (): void => {
    for (;;) {
      while (pos < source.length && /\s/.test(source[pos] as string)) pos++;
      if (source.startsWith('<?', pos)) {
        const end = source.indexOf('?>', pos);
        if (end < 0) throw badXml('unterminated XML declaration', source.slice(pos, pos + 20), pos);
        pos = end + 2;
      } else if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos);
        if (end < 0) throw badXml('unterminated XML comment', source.slice(pos, pos + 20), pos);
        pos = end + 3;
      } else if (source.startsWith('<!DOCTYPE', pos)) {
        throw badXml('XML DOCTYPE is not accepted', source.slice(pos, pos + 20), pos);
      } else return;
    }
  };

  skipMisc();
  if (source[pos] !== '<') throw badXml('not an XML document', source.slice(0, 20), pos);
  while (pos < source.length) {
    if (stack.length === 0 && root !== undefined) {
      skipMisc();
      if (pos < source.length) throw badXml('content after the XML root element', source.slice(pos, pos + 20), pos);
      break;
    }
    const lt = source.indexOf('<', pos);
    if (lt < 0) throw badXml('unterminated XML element', stack[stack.length - 1]?.name, pos);
    const top = stack[stack.length - 1];
    if (lt > pos && top !== undefined) top.text += decodeEntities(source.slice(pos, lt), pos);
    pos = lt;
    if (source.startsWith('<!--', pos)) {
      const end = source.indexOf('-->', pos);
      if (end < 0) throw badXml('unterminated XML comment', source.slice(pos, pos + 20), pos);
      pos = end + 3;
    } else if (source.startsWith('<![CDATA[', pos)) {
      const end = source.indexOf(']]>', pos);
      if (end < 0 || top === undefined) throw badXml('bad CDATA section', source.slice(pos, pos + 20), pos);
      top.text += source.slice(pos + 9, end);
      pos = end + 3;
    } else if (source.startsWith('</', pos)) {
      NAME.lastIndex = pos + 2;
      const match = NAME.exec(source);
      const closing = match?.[0];
      if (closing === undefined || top === undefined || closing !== top.name) {
        throw badXml(`mismatched XML closing tag </${closing ?? ''}>`, closing, pos);
      }
      pos = NAME.lastIndex;
      while (/\s/.test(source[pos] ?? '')) pos++;
      if (source[pos] !== '>') throw badXml('bad XML closing tag', closing, pos);
      pos++;
      stack.pop();
    } else {
      NAME.lastIndex = pos + 1;
      const match = NAME.exec(source);
      if (match === null) throw badXml('bad XML element name', source.slice(pos, pos + 20), pos);
      const element: XmlElement = { name: match[0], attributes: {}, children: [], text: '' };
      pos = NAME.lastIndex;
      for (;;) {
        ATTRIBUTE.lastIndex = pos;
        const attribute = ATTRIBUTE.exec(source);
        if (attribute === null) break;
        element.attributes[attribute[1] as string] = decodeEntities(attribute[3] ?? attribute[4] ?? '', pos);
        pos = ATTRIBUTE.lastIndex;
      }
      while (/\s/.test(source[pos] ?? '')) pos++;
      let selfClosing = false;
      if (source.startsWith('/>', pos)) {
        selfClosing = true;
        pos += 2;
      } else if (source[pos] === '>') pos++;
      else throw badXml(`bad XML start tag <${element.name}>`, source.slice(pos, pos + 20), pos);
      if (top !== undefined) top.children.push(element);
      else if (root === undefined) root = element;
      if (!selfClosing) {
        if (stack.length >= MAX_XML_DEPTH) throw badXml(`XML nested deeper than ${MAX_XML_DEPTH} elements`, element.name, pos);
        stack.push(element);
      }
    }
  }
  if (root === undefined || stack.length > 0) throw badXml('truncated XML document', stack[stack.length - 1]?.name, pos);
  return root;
}

/**
 * Turns an element into the shape Eureka's JSON codec uses: text-only elements become strings,
 * attributes become `@name` keys beside the text in `$`, repeated children become arrays.
 */
export function xmlToJsonShape(element: XmlElement): unknown {
  const attributeKeys = Object.keys(element.attributes);
  if (element.children.length === 0) {
    if (attributeKeys.length === 0) return element.text;
    const shaped: Record<string, unknown> = {};
    for (const key of attributeKeys) shaped[`@${key}`] = element.attributes[key];
    if (element.text.trim() !== '') shaped.$ = element.text;
    return shaped;
  }
  const shaped: Record<string, unknown> = {};
  for (const key of attributeKeys) shaped[`@${key}`] = element.attributes[key];
  const lists = new Set<string>();
  for (const child of element.children) {
    const value = xmlToJsonShape(child);
    const existing = shaped[child.name];
    if (existing === undefined) shaped[child.name] = value;
    else if (lists.has(child.name)) (existing as unknown[]).push(value);
    else {
      shaped[child.name] = [existing, value];
      lists.add(child.name);
    }
  }
  return shaped;
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;'));
}

/** Appends `<name attrs>text</name>` to out. */
export function xmlLeaf(out: string[], name: string, text: string | number | boolean, attributes?: Record<string, string>): void {
  out.push('<', name);
  if (attributes !== undefined) for (const [key, value] of Object.entries(attributes)) out.push(' ', key, '="', escapeXml(value), '"');
  out.push('>', escapeXml(String(text)), '</', name, '>');
}
