// The SigV4 signer doctor uses without the AWS CLI, against AWS's published examples
// (the SigV4 test suite's get-vanilla and get-vanilla-query-order-key-case).
import { describe, expect, it } from "vitest";
import { amzDate, signGet } from "../../../dataplane/doctor/sigv4";

const EXAMPLE = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const SCOPE = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date";

describe("signGet", () => {
  it("get-vanilla", () => {
    expect(signGet(new URL("https://example.amazonaws.com/"), "us-east-1", "service", EXAMPLE, "20150830T123600Z").authorization)
      .toBe(`AWS4-HMAC-SHA256 ${SCOPE}, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31`);
  });

  it("get-vanilla-query-order-key-case: the query is sorted before signing", () => {
    expect(signGet(new URL("https://example.amazonaws.com/?Param2=value2&Param1=value1"), "us-east-1", "service", EXAMPLE, "20150830T123600Z").authorization)
      .toBe(`AWS4-HMAC-SHA256 ${SCOPE}, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500`);
  });

  it("signs the session token of temporary credentials, and formats the date as SigV4 does", () => {
    const headers = signGet(new URL("https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity"), "us-east-1", "sts", { ...EXAMPLE, sessionToken: "tok" }, "20150830T123600Z");
    expect(headers["x-amz-security-token"]).toBe("tok");
    expect(headers.authorization).toMatch(/SignedHeaders=host;x-amz-date;x-amz-security-token, /);
    expect(amzDate(new Date("2015-08-30T12:36:00.123Z"))).toBe("20150830T123600Z");
  });
});
