// Unit tests for the pieces zk-session installs into node-zookeeper-client: the light watch table
// and the frame splitter in front of its socket handler.
import type { Socket } from 'node:net';
import { LightWatcherManager, ZkConnectionManagerInternals, ZkEvent, splitFrames, zookeeper } from './zk-client';

function frame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const out = Buffer.alloc(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

function manager(): { cm: ZkConnectionManagerInternals; frames: string[] } {
  const frames: string[] = [];
  const cm: ZkConnectionManagerInternals = {
    socket: {} as Socket,
    watcherManager: {},
    onSocketData(data: Buffer): void {
      expect(data.readInt32BE(0)).toBe(data.length - 4);
      frames.push(data.subarray(4).toString());
    },
  };
  splitFrames(cm);
  return { cm, frames };
}

describe('splitFrames', () => {
  it('hands the client one whole frame at a time, however the stream is cut', () => {
    const stream = Buffer.concat([frame('a'), frame(''), frame('hello world'), frame('x'.repeat(300)), frame('z')]);
    const expected = ['a', '', 'hello world', 'x'.repeat(300), 'z'];
    for (const cut of [1, 2, 3, 5, 7, 64, stream.length]) {
      const { cm, frames } = manager();
      for (let i = 0; i < stream.length; i += cut) cm.onSocketData(stream.subarray(i, i + cut));
      expect(frames).toEqual(expected);
    }
  });

  it('drops a partial frame left by a previous connection', () => {
    const { cm, frames } = manager();
    cm.onSocketData(frame('lost').subarray(0, 6));
    cm.socket = {} as Socket;
    cm.onSocketData(frame('fresh'));
    expect(frames).toEqual(['fresh']);
  });
});

describe('LightWatcherManager', () => {
  const { Event } = zookeeper;

  it('fires each watcher once per registration, by kind and path, as the client expects', () => {
    const table = new LightWatcherManager();
    const seen: string[] = [];
    const a = (e: ZkEvent): number => seen.push(`a:${e.getPath()}:${e.getName()}`);
    const b = (e: ZkEvent): number => seen.push(`b:${e.getPath()}:${e.getName()}`);
    table.registerChildWatcher('/x', a);
    table.registerChildWatcher('/x', a);
    table.registerChildWatcher('/x', b);
    table.registerDataWatcher('/x', b);
    table.registerExistenceWatcher('/y', a);
    expect(table.getChildWatcherPaths()).toEqual(['/x']);
    expect(table.isEmpty()).toBe(false);
    table.emit({ type: Event.NODE_CHILDREN_CHANGED, state: 3, path: '/x' });
    expect(seen).toEqual(['a:/x:NODE_CHILDREN_CHANGED', 'b:/x:NODE_CHILDREN_CHANGED']);
    table.emit({ type: Event.NODE_CHILDREN_CHANGED, state: 3, path: '/x' });
    expect(seen).toHaveLength(2);
    table.emit({ type: Event.NODE_CREATED, state: 3, path: '/y' });
    table.emit({ type: Event.NODE_DELETED, state: 3, path: '/x' });
    expect(seen.slice(2)).toEqual(['a:/y:NODE_CREATED', 'b:/x:NODE_DELETED']);
    expect(table.isEmpty()).toBe(true);
    table.registerDataWatcher('/z', a);
    table.clear();
    expect(table.isEmpty()).toBe(true);
  });
});
