// Run by heroku-mismatch.test.ts in its own process: the staging stack under mocks while
// Heroku lists something other than ferry:source (FERRY_TEST_MISMATCH says what). The
// failed check must end the program, as the Pulumi language host ends `pulumi up`.
import { FAKE_HEROKU, outputValue, stackConfig } from "./harness";
import { parseConfig } from "../../config";
import { buildFerry } from "../../program";

if (process.env.FERRY_TEST_MISMATCH === "hostname") FAKE_HEROKU["masto-streaming"].domains = [];
if (process.env.FERRY_TEST_MISMATCH === "addon") FAKE_HEROKU["masto-web"].addons = FAKE_HEROKU["masto-web"].addons.slice(1);
const outputs = buildFerry(parseConfig(stackConfig("staging")), { name: "ferry" });
void outputValue(outputs.source!).then((apps) => console.log(`inventory read: ${apps.map((a) => a.app).join(", ")}`));
