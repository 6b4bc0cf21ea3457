// The splice lives in infra/ (npm run docs:iam reads the whole template too); the tests import it from here.
export { nestedStackResourceId, nestedStacksOf, wholeTemplate } from '../../../infra/whole-template.js';
