import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress, canonicalIp, parseIp } from '../../src/net/addresses.js';
import { importFilteringFrom, redactUrl, UrlPolicy, UrlPolicyError, type ResolvedAddress, type UrlPolicyReason } from '../../src/net/urlPolicy.js';
import { FetchError, safeFetch } from '../../src/net/safeFetch.js';
import { loadConfig, ConfigError } from '../../src/config/config.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';

/** A fake DNS: names under .test resolve to fixed addresses, nothing leaves the process. */
const DNS: Record<string, string[]> = {
  'public.test': ['93.184.216.34'],
  'public6.test': ['2606:2800:220:1:248:1893:25c8:1946'],
  'mixed.test': ['93.184.216.34', '10.0.0.7'],
  'private.test': ['10.1.2.3'],
  'meta.test': ['169.254.169.254'],
  'v6loop.test': ['::1'],
  'mapped.test': ['::ffff:127.0.0.1'],
  'nat64.test': ['64:ff9b::a9fe:a9fe'],
  'cgnat.test': ['100.64.1.1'],
  'ula.test': ['fd12:3456::1'],
  'zero.test': ['0.0.0.0'],
  localhost: ['127.0.0.1', '::1'],
};
const resolver = async (name: string): Promise<ResolvedAddress[]> => {
  const found = DNS[name.replace(/\.$/, '')];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

const policy = (rules: ConstructorParameters<typeof UrlPolicy>[0] = {}, allowPrivate = false) =>
  new UrlPolicy(rules, { resolver, allowPrivate });

async function refused(p: UrlPolicy, url: string, reason: UrlPolicyReason, msg?: RegExp): Promise<void> {
  await assert.rejects(p.check(url), (e: unknown) => {
    assert.ok(e instanceof UrlPolicyError, `${url}: expected a UrlPolicyError, got ${String(e)}`);
    assert.equal(e.reason, reason, `${url}: ${e.message}`);
    if (msg) assert.match(e.message, msg);
    return true;
  });
}

describe('addresses', () => {
  test('classifies special IPv4 and IPv6 ranges, public addresses are undefined', () => {
    const cases: [string, string | undefined][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback'],
      ['10.0.0.1', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['172.32.0.1', undefined],
      ['192.168.1.1', 'private'],
      ['169.254.169.254', 'link-local'],
      ['100.64.0.1', 'cgnat'],
      ['100.127.255.255', 'cgnat'],
      ['100.128.0.1', undefined],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['240.0.0.1', 'reserved'],
      ['198.18.0.1', 'reserved'],
      ['8.8.8.8', undefined],
      ['::', 'unspecified'],
      ['::1', 'loopback'],
      ['fe80::1', 'link-local'],
      ['fd00::1', 'unique-local'],
      ['fc00::1', 'unique-local'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'reserved'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['0:0:0:0:0:ffff:a9fe:a9fe', 'link-local'],
      ['::ffff:8.8.8.8', undefined],
      ['64:ff9b::a9fe:a9fe', 'link-local'],
      ['64:ff9b::808:808', undefined],
      ['2002:7f00:1::', 'loopback'],
      ['::127.0.0.1', 'reserved'],
      ['2606:4700::1111', undefined],
    ];
    for (const [ip, cls] of cases) assert.equal(classifyAddress(ip), cls, ip);
  });

  test('only standard notation parses as an IP', () => {
    for (const bad of ['127.1', '0x7f.0.0.1', '0177.0.0.1', '2130706433', '127.0.0.01', 'fe80::1%eth0', '1.2.3.4.5', 'example.com']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    assert.deepEqual([...parseIp('[::1]')!], [...new Array(15).fill(0), 1]);
    assert.equal(canonicalIp('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(canonicalIp('0:0::1'), canonicalIp('::1'));
  });
});

describe('UrlPolicy: Glance import_filtering_opts', () => {
  test('defaults: http and https on ports 80 and 443', async () => {
    const p = policy();
    const ok = await p.check('http://public.test/image.qcow2');
    assert.equal(ok.port, 80);
    assert.deepEqual(ok.addresses, [{ address: '93.184.216.34', family: 4 }]);
    assert.equal((await p.check('https://public.test:443/x')).port, 443);
    await refused(p, 'ftp://public.test/x', 'scheme');
    await refused(p, 'file:///etc/passwd', 'scheme');
    await refused(p, 'gopher://public.test/', 'scheme');
    await refused(p, 'http://public.test:8080/x', 'port');
  });

  test('schemes: the allow list wins over the deny list; an empty allow list enables the deny list', async () => {
    await refused(policy({ allowedSchemes: ['https'] }), 'http://public.test/', 'scheme');
    assert.ok(await policy({ allowedSchemes: ['http'], disallowedSchemes: ['http'] }).check('http://public.test/'));
    await refused(policy({ allowedSchemes: [], disallowedSchemes: ['http'] }), 'http://public.test/', 'scheme');
    assert.ok(await policy({ allowedSchemes: [], disallowedSchemes: ['ftp'] }).check('HTTPS://public.test/'));
  });

  test('ports: the effective port is checked, also when the URL leaves it out', async () => {
    await refused(policy({ allowedPorts: [443] }), 'http://public.test/', 'port', /port 80/);
    await refused(policy({ allowedPorts: [], disallowedPorts: [80] }), 'http://public.test/', 'port');
    assert.ok(await policy({ allowedPorts: [], disallowedPorts: [80] }).check('http://public.test:8080/'));
    assert.ok(await policy({ allowedPorts: [8080], disallowedPorts: [8080] }).check('http://public.test:8080/'));
  });

  test('hosts: allow list by name or by every resolved address; deny list by name or any address', async () => {
    const allow = policy({ allowedHosts: ['public.test', '10.0.0.7'] });
    assert.ok(await allow.check('http://PUBLIC.test./x'));
    await refused(allow, 'http://public6.test/', 'host', /not in the allowed hosts/);
    await refused(allow, 'http://mixed.test/', 'host');
    assert.ok(await policy({ allowedHosts: ['93.184.216.34'] }).check('http://public.test/'), 'listed address');

    const deny = policy({ disallowedHosts: ['public.test', '10.1.2.3'] });
    await refused(deny, 'http://public.test/', 'host');
    await refused(deny, 'http://private.test/', 'host');
    assert.ok(await deny.check('http://public6.test/'));
    await refused(policy({ disallowedHosts: ['93.184.216.34'] }), 'http://public.test/', 'host', /not allowed/);
    await refused(policy({ disallowedHosts: ['127.0.0.1'] }, true), 'http://[::ffff:127.0.0.1]/', 'host');
    // Both lists set: as in Glance only the allow list counts.
    assert.ok(await policy({ allowedHosts: ['public.test'], disallowedHosts: ['public.test'] }).check('http://public.test/'));
  });

  test('encoded, abbreviated and disguised IPv4 hosts are refused, not normalised', async () => {
    const p = policy({ allowedPorts: [] }, true);
    for (const url of [
      'http://2130706433/',
      'http://0x7f000001/',
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://127.1/',
      'http://127.0.1/',
      'http://127.0.0.01/',
      'http://127.0.0.1./',
      'http://0/',
      'http://134744072/', // 8.8.8.8, public, still refused as Glance does
      'http://１２７.０.０.１/',
    ]) {
      await refused(p, url, 'host', undefined);
    }
    await refused(p, 'http://%31%32%37.0.0.1/', 'host', /percent/);
    await refused(p, 'http://1.2.3.4.5/', 'invalid');
  });

  test('URLs that parsers read differently are refused', async () => {
    const p = policy();
    await refused(p, 'http:public.test/x', 'invalid', /scheme:\/\/host/);
    await refused(p, 'http:/public.test/x', 'invalid');
    await refused(p, 'http:///public.test/x', 'invalid', /no host/);
    await refused(p, 'http://public.test\\@127.0.0.1/', 'invalid', /backslash/);
    await refused(p, 'http://pub\tlic.test/', 'invalid');
    await refused(p, 'http://public.test /', 'invalid');
    await refused(p, 'http://public.test/\nHost: x', 'invalid');
    await refused(p, '', 'invalid');
    await refused(p, 'not a url', 'invalid');
  });

  test('userinfo tricks: the host after the last @ is the one checked', async () => {
    const p = policy();
    await refused(p, 'http://public.test@127.0.0.1/', 'address', /loopback/);
    await refused(p, 'http://public.test:80@127.0.0.1/', 'address');
    await refused(p, 'http://a@public.test@127.0.0.1/', 'address');
    const ok = await p.check('http://127.0.0.1@public.test/');
    assert.equal(ok.hostname, 'public.test');
    // Fragments and queries end the authority for every parser.
    assert.equal((await p.check('http://public.test#@127.0.0.1/')).hostname, 'public.test');
    assert.equal((await p.check('http://public.test?@127.0.0.1/')).hostname, 'public.test');
  });

  test('non-public destinations are refused by address and by name', async () => {
    const p = policy();
    await refused(p, 'http://127.0.0.1/', 'address', /loopback/);
    await refused(p, 'http://localhost/', 'address', /resolves to a loopback/);
    await refused(p, 'http://[::1]/', 'address', /loopback/);
    await refused(p, 'http://v6loop.test/', 'address', /loopback/);
    await refused(p, 'http://[::ffff:127.0.0.1]/', 'address', /loopback/);
    await refused(p, 'http://[0:0:0:0:0:ffff:7f00:1]/', 'address', /loopback/);
    await refused(p, 'http://mapped.test/', 'address');
    await refused(p, 'http://169.254.169.254/latest/meta-data/', 'address', /link-local/);
    await refused(p, 'http://meta.test/', 'address', /link-local/);
    await refused(p, 'http://[64:ff9b::a9fe:a9fe]/', 'address', /link-local/);
    await refused(p, 'http://nat64.test/', 'address');
    await refused(p, 'http://10.0.0.1/', 'address', /private/);
    await refused(p, 'http://192.168.0.1/', 'address', /private/);
    await refused(p, 'http://private.test/', 'address', /private/);
    await refused(p, 'http://mixed.test/', 'address', /private/);
    await refused(p, 'http://cgnat.test/', 'address', /cgnat/);
    await refused(p, 'http://ula.test/', 'address', /unique-local/);
    await refused(p, 'http://[fe80::1]/', 'address', /link-local/);
    await refused(p, 'http://0.0.0.0/', 'address', /unspecified/);
    await refused(p, 'http://zero.test/', 'address', /unspecified/);
    await refused(p, 'http://[::]/', 'address', /unspecified/);
    await refused(p, 'http://224.0.0.1/', 'address', /multicast/);
    assert.ok(await p.check('http://public6.test/'));
    assert.ok(await p.check('http://[2606:4700::1111]/'));
  });

  test('the error message does not reveal what a name resolves to', async () => {
    await assert.rejects(policy().check('http://private.test/'), (e: UrlPolicyError) => {
      assert.doesNotMatch(e.message, /10\.1\.2\.3/);
      assert.equal(e.address, '10.1.2.3');
      return true;
    });
  });

  test('allowed_hosts, imago_allowed_networks and allowPrivate lift the address rule', async () => {
    assert.ok(await policy({ allowedHosts: ['localhost'] }).check('http://localhost/'));
    assert.ok(await policy({ allowedHosts: ['127.0.0.1'] }).check('http://127.0.0.1/'));
    assert.ok(await policy({ allowedHosts: ['127.0.0.1'] }).check('http://[::ffff:127.0.0.1]/'));
    assert.ok(await policy({ allowedHosts: ['10.1.2.3'] }).check('http://private.test/'), 'listed address of a name');
    await refused(policy({ allowedHosts: ['127.0.0.1'] }), 'http://localhost/', 'host');
    // Networks: not a whitelist, public hosts stay reachable.
    const nets = policy({ allowedNetworks: ['10.0.0.0/8', 'fd00::/8'] });
    assert.ok(await nets.check('http://private.test/'));
    assert.ok(await nets.check('http://mixed.test/'));
    assert.ok(await nets.check('http://ula.test/'));
    assert.ok(await nets.check('http://public.test/'));
    await refused(nets, 'http://meta.test/', 'address');
    await refused(nets, 'http://192.168.1.1/', 'address');
    // A caller's allowPrivate: everything that is a destination at all.
    const trusted = policy({}, true);
    assert.ok(await trusted.check('http://localhost/'));
    assert.ok(await trusted.check('http://meta.test/'));
    await refused(trusted, 'http://0.0.0.0/', 'address');
    await refused(trusted, 'http://[ff02::1]/', 'address');
    assert.ok(await policy().withOptions({ allowPrivate: true }).check('http://10.0.0.1/'));
  });

  test('names that do not resolve are refused', async () => {
    await refused(policy(), 'http://nowhere.test/', 'resolve', /could not be resolved \(ENOTFOUND\)/);
    const slow = new UrlPolicy({}, { resolver: () => new Promise(() => undefined), resolveTimeoutMs: 50 });
    await refused(slow, 'http://public.test/', 'resolve', /timed out/);
    const ac = new AbortController();
    const pending = slow.check('http://public.test/', { signal: ac.signal });
    ac.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });

  test('checkSyntax needs no DNS', () => {
    const p = new UrlPolicy({}, { resolver: () => Promise.reject(new Error('no DNS here')) });
    assert.equal(p.checkSyntax('http://anything.example/x').hostname, 'anything.example');
    assert.throws(() => p.checkSyntax('http://0x7f.1/'), UrlPolicyError);
  });

  test('credentials never appear in errors', async () => {
    await assert.rejects(policy().check('http://user:s3cret@127.0.0.1/'), (e: UrlPolicyError) => {
      assert.doesNotMatch(e.message + e.url, /s3cret/);
      assert.equal(e.url, 'http://127.0.0.1/');
      return true;
    });
    assert.equal(redactUrl('https://u:p@h.example/a?b'), 'https://h.example/a?b');
  });

  test('rules are read from [import_filtering_opts] and checked', () => {
    const c = loadConfig({
      env: {},
      set: [
        'import_filtering_opts.allowed_schemes=[https]',
        'import_filtering_opts.allowed_hosts=mirror.example, 10.0.0.5',
        'import_filtering_opts.allowed_ports=',
        'import_filtering_opts.disallowed_ports=22,25',
        'import_filtering_opts.imago_allowed_networks=10.20.0.0/16',
      ],
    });
    const r = importFilteringFrom(c);
    assert.deepEqual(r.allowedSchemes, ['https']);
    assert.deepEqual(r.allowedHosts, ['mirror.example', '10.0.0.5']);
    assert.deepEqual(r.allowedPorts, []);
    assert.deepEqual(r.disallowedPorts, [22, 25]);
    assert.deepEqual(r.allowedNetworks, ['10.20.0.0/16']);
    const d = importFilteringFrom(loadConfig({ env: {} }));
    assert.deepEqual(d.allowedSchemes, ['http', 'https']);
    assert.deepEqual(d.allowedPorts, [80, 443]);
    assert.throws(() => importFilteringFrom(loadConfig({ env: {}, set: ['import_filtering_opts.allowed_ports=http'] })), ConfigError);
    assert.throws(() => importFilteringFrom(loadConfig({ env: {}, set: ['import_filtering_opts.allowed_hosts=a b'] })), ConfigError);
    assert.throws(
      () => importFilteringFrom(loadConfig({ env: {}, set: ['import_filtering_opts.imago_allowed_networks=10.0.0.0/33'] })),
      ConfigError,
    );
  });
});

describe('safeFetch: every hop re-checked, DNS pinned (in-process servers on 127.0.0.1 and 127.0.0.2)', () => {
  let main: TestServer;
  let other: TestServer; // 127.0.0.2: must never be reached
  let calls: string[];
  // mirror.test and hop.test only exist in this resolver: reaching the server proves the lookup was pinned.
  const pinnedDns: Record<string, string[]> = { 'mirror.test': ['127.0.0.1'], 'hop.test': ['127.0.0.1'], 'internal.test': ['127.0.0.2'] };
  const fetchPolicy = (rules: ConstructorParameters<typeof UrlPolicy>[0] = {}) =>
    new UrlPolicy(
      { allowedPorts: [], allowedNetworks: ['127.0.0.1/32'], ...rules },
      {
        resolver: async (name) => {
          calls.push(name);
          const found = pinnedDns[name];
          if (!found) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
          return found.map((address) => ({ address, family: 4 as const }));
        },
      },
    );

  before(async () => {
    other = await startHttpServer((_req, res) => res.end('internal secret'), '127.0.0.2');
    main = await startHttpServer((req, res) => {
      const u = new URL(req.url!, 'http://x');
      const to = u.searchParams.get('to');
      const hops = Number(u.searchParams.get('hops') ?? 0);
      if (u.pathname === '/redirect' && hops > 0) {
        const next = hops === 1 && to ? to : `/redirect?hops=${hops - 1}${to ? `&to=${encodeURIComponent(to)}` : ''}`;
        res.writeHead(Number(u.searchParams.get('status') ?? 302), { location: next });
        res.end();
      } else if (u.pathname === '/redirect' && to) {
        res.writeHead(302, { location: to });
        res.end();
      } else if (u.pathname === '/hang') {
        // never answers
      } else {
        res.end(`ok ${req.method} ${req.headers.host} ${req.headers.authorization ?? '-'}`);
      }
    });
  });
  after(async () => {
    await main.close();
    await other.close();
  });

  const text = async (r: { body: NodeJS.ReadableStream }) => {
    let s = '';
    for await (const c of r.body) s += c.toString();
    return s;
  };

  test('connects to the checked address with the URL host in Host', async () => {
    calls = [];
    const r = await safeFetch(`http://mirror.test:${main.port}/x`, { policy: fetchPolicy() });
    assert.equal(r.status, 200);
    assert.equal(await text(r), `ok GET mirror.test:${main.port} -`);
    assert.deepEqual(calls, ['mirror.test'], 'resolved once');
  });

  test('a redirect chain to an allowed host is followed (each hop checked)', async () => {
    calls = [];
    const r = await safeFetch(`http://mirror.test:${main.port}/redirect?hops=3&to=${encodeURIComponent(`http://hop.test:${main.port}/final`)}`, {
      policy: fetchPolicy(),
    });
    assert.equal(r.status, 200);
    assert.equal(r.redirects, 3);
    assert.equal(r.url, `http://hop.test:${main.port}/final`);
    assert.deepEqual(calls, ['mirror.test', 'mirror.test', 'mirror.test', 'hop.test']);
  });

  test('redirect chains ending on a refused address are stopped before connecting', async () => {
    const before = other.requests.length;
    for (const [to, reason] of [
      [`http://internal.test:${other.port}/`, 'address'],
      [`http://127.0.0.2:${other.port}/`, 'address'],
      [`http://[::ffff:127.0.0.2]:${other.port}/`, 'address'],
      [`http://2130706434:${other.port}/`, 'host'],
      [`http://0x7f.2:${other.port}/`, 'host'],
      [`http://mirror.test@127.0.0.2:${other.port}/`, 'address'],
      ['file:///etc/passwd', 'scheme'],
      [`//2130706434:${other.port}/`, 'host'], // scheme-relative: checked as written, not resolved first
      ['/\\internal.test/', 'invalid'], // "/\" reads as "//" in http URLs: another host
    ] as const) {
      for (const status of [301, 302, 303, 307, 308]) {
        const url = `http://mirror.test:${main.port}/redirect?hops=2&status=${status}&to=${encodeURIComponent(to)}`;
        await assert.rejects(safeFetch(url, { policy: fetchPolicy() }), (e: unknown) => {
          assert.ok(e instanceof UrlPolicyError, String(e));
          assert.equal(e.reason, reason, `${to}: ${e.message}`);
          assert.match(e.message, /^redirect to a refused URL/);
          return true;
        });
      }
    }
    assert.equal(other.requests.length, before, 'the internal server was never contacted');
  });

  test('redirects to a port outside allowed_ports are refused', async () => {
    const p = fetchPolicy({ allowedPorts: [main.port] });
    const url = `http://mirror.test:${main.port}/redirect?to=${encodeURIComponent(`http://mirror.test:${other.port}/`)}`;
    await assert.rejects(safeFetch(url, { policy: p }), { reason: 'port' });
  });

  test('at most 5 redirects', async () => {
    const ok = await safeFetch(`http://mirror.test:${main.port}/redirect?hops=5`, { policy: fetchPolicy() });
    assert.equal(ok.redirects, 5);
    await ok.dispose();
    await assert.rejects(safeFetch(`http://mirror.test:${main.port}/redirect?hops=6`, { policy: fetchPolicy() }), (e: unknown) => {
      assert.ok(e instanceof FetchError);
      assert.equal(e.kind, 'redirect');
      return true;
    });
  });

  test('a second, different DNS answer cannot redirect the connection', async () => {
    // Rebinding: both answers are allowed here, so only pinning keeps the socket on the first one.
    let n = 0;
    const rebinding = new UrlPolicy(
      { allowedPorts: [], allowedNetworks: ['127.0.0.0/8'] },
      { resolver: async () => [{ address: n++ === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }] },
    );
    const before = other.requests.length;
    const r = await safeFetch(`http://rebind.test:${main.port}/x`, { policy: rebinding });
    assert.equal(await text(r), `ok GET rebind.test:${main.port} -`);
    assert.equal(n, 1);
    assert.equal(other.requests.length, before);
  });

  test('URL credentials become Basic auth, kept on the same origin, dropped on another', async () => {
    const r1 = await safeFetch(`http://alice:pa%40ss@mirror.test:${main.port}/redirect?hops=1`, { policy: fetchPolicy() });
    assert.equal(await text(r1), `ok GET mirror.test:${main.port} Basic ${Buffer.from('alice:pa@ss').toString('base64')}`);
    assert.equal(r1.url, `http://mirror.test:${main.port}/redirect?hops=0`, 'no credentials in the reported URL');
    const to = encodeURIComponent(`http://hop.test:${main.port}/final`);
    const r2 = await safeFetch(`http://alice:pw@mirror.test:${main.port}/redirect?to=${to}`, {
      policy: fetchPolicy(),
      headers: { Authorization: 'Bearer t', Cookie: 'c=1' },
    });
    assert.equal(await text(r2), `ok GET hop.test:${main.port} -`);
    assert.equal(main.requests.at(-1)!.headers.cookie, undefined);
    const same = encodeURIComponent(`http://mirror.test:${main.port}/final`);
    const r3 = await safeFetch(`http://alice:pw@mirror.test:${main.port}/redirect?to=${same}`, { policy: fetchPolicy() });
    assert.equal(await text(r3), `ok GET mirror.test:${main.port} Basic ${Buffer.from('alice:pw').toString('base64')}`, 'absolute, same origin');
  });

  test('timeouts and AbortSignal', async () => {
    await assert.rejects(
      safeFetch(`http://mirror.test:${main.port}/hang`, { policy: fetchPolicy(), timeouts: { headersMs: 100 } }),
      (e: unknown) => e instanceof FetchError && e.kind === 'timeout',
    );
    const ac = new AbortController();
    const pending = safeFetch(`http://mirror.test:${main.port}/hang`, { policy: fetchPolicy(), signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(pending, { name: 'AbortError' });
  });

  test('connection refused is a FetchError', async () => {
    const closed = await startHttpServer(() => undefined);
    const port = closed.port;
    await closed.close();
    await assert.rejects(safeFetch(`http://mirror.test:${port}/`, { policy: fetchPolicy() }), (e: unknown) => {
      assert.ok(e instanceof FetchError);
      assert.equal(e.kind, 'connect');
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
  });
});
