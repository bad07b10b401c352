import { Catalog, instanceDefaults } from '../../catalog';
import { ServiceNames } from './service-names';

describe('service names', () => {
  const catalog = new Catalog();
  const add = (service: string, protocol: 'dubbo' | 'http'): void => {
    catalog.upsert({ ...instanceDefaults(), id: `${service}-1`, service, protocol, host: '127.0.0.1', port: 1, stack: 'legacy', origin: { source: 'test' } });
  };
  add('com.example.Orders', 'dubbo');
  const names = new ServiceNames(catalog, [{ service: 'payments', protocol: 'http' }]);
  afterAll(() => names.close());

  it('matches Dubbo interface names exactly', () => {
    expect(names.resolve('com.example.Orders')).toBe('com.example.Orders');
    expect(names.resolve('com.example.orders')).toBeNull();
  });

  it('matches Eureka app names in any case, to the catalog spelling', () => {
    add('ORDERS', 'http');
    expect(names.resolve('orders')).toBe('ORDERS');
    expect(names.resolve('Orders')).toBe('ORDERS');
  });

  it('knows declared services before they register, and nothing invented', () => {
    expect(names.resolve('Payments')).toBe('PAYMENTS');
    expect(names.resolve('invented')).toBeNull();
  });

  it('remembers a service whose instances all left', () => {
    catalog.remove('test', 'ORDERS', 'ORDERS-1');
    expect(names.resolve('orders')).toBe('ORDERS');
  });
});
