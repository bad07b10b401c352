import { validateBridgeConfig } from '../bridge/config';
import { isMeshBridgeError } from '../errors';
import { registrationPolicyFromConfig } from './eureka-config';

const eureka = (section: Record<string, unknown>) => () => validateBridgeConfig({ eureka: section });

describe('the eureka config section', () => {
  it('refuses Eureka server URLs that are not http(s)', () => {
    expect(eureka({ servers: ['ftp://eureka:21/eureka/'] })).toThrow(/eureka\.servers\.0/);
    expect(eureka({ servers: ['javascript:alert(1)'] })).toThrow(/eureka\.servers\.0/);
    expect(eureka({ servers: ['https://eureka.example/eureka/'] })).not.toThrow();
  });

  it('refuses a handout host suffix that is no DNS name, and a username without its password', () => {
    expect(eureka({ handout: { hostSuffix: 'not a host!!' } })).toThrow(/eureka\.handout\.hostSuffix/);
    expect(eureka({ registration: { username: 'registrar' } })).toThrow(/eureka\.registration/);
  });

  it('reads the registration password from the environment, and says which variable is missing', () => {
    const config = validateBridgeConfig({ eureka: { registration: { username: 'registrar', passwordEnv: 'EUREKA_PW' } } }).eureka;
    expect(registrationPolicyFromConfig(config, undefined, { EUREKA_PW: 'pw' }).needsCredentials).toBe(true);
    try {
      registrationPolicyFromConfig(config, undefined, {});
      throw new Error('expected a refusal');
    } catch (err) {
      expect(isMeshBridgeError(err) && err.code).toBe('CONFIG_INVALID');
      expect((err as Error).message).toContain('EUREKA_PW');
    }
  });
});
