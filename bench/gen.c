/*
 * bench/gen.c: seeded, deterministic CloudTrail log files for the benchmark.
 *
 *   gen [-s SEED] [-n JSON_BYTES | -z GZIP_BYTES] [-l IDS_FILE] OUT.json.gz
 *
 * Writes one gzip member (zlib level 6, like CloudTrail's files) holding
 * {"Records":[...]} with records in CloudTrail's field order and about
 * 1.5 KB each: 2 % Secrets Manager events (reads, rotations, deletions,
 * resource policies, denials), KMS calls of which 30 % are made on behalf of
 * Secrets Manager (so "secretsmanager.amazonaws.com" appears in records that
 * must not match), the rest EC2, S3, STS, IAM, Lambda, SSM, DynamoDB, RDS...
 * Strings carry what real ones do: escaped quotes in policy documents and
 * error messages, \n in pasted policies, raw UTF-8 in names, URL-encoded IAM
 * policies. It stops once the JSON (-n) or the gzip output (-z) reaches the
 * size asked for. The same seed and size give the same bytes anywhere.
 *
 * On stdout, one line: records=N secretsmanager=M kms=K kms_by_sm=J
 * json_bytes=B gzip_bytes=G. With -l, the eventIDs of the Secrets Manager
 * events, one per line, in file order (what a correct scan must deliver).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#define SM "secretsmanager.amazonaws.com"

struct out {
	char *p;
	size_t len;
	size_t cap;
};

static uint64_t gen_rng;

static uint64_t
gen_next(void)
{
	/* splitmix64: tiny, good enough, the same on every platform. */
	uint64_t z = (gen_rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned
gen_below(unsigned n)
{
	return (unsigned)(gen_next() % n);
}

/* True with probability per/10000. */
static int
gen_chance(unsigned per)
{
	return gen_below(10000) < per;
}

static const char *
gen_pick(const char *const *v, size_t n)
{
	return v[gen_below((unsigned)n)];
}

#define PICK(v) gen_pick(v, sizeof(v) / sizeof(v[0]))

static void
out_reserve(struct out *o, size_t n)
{
	if (o->len + n + 1 <= o->cap)
		return;
	while (o->len + n + 1 > o->cap)
		o->cap = o->cap != 0 ? o->cap * 2 : 1u << 16;
	o->p = realloc(o->p, o->cap);
	if (o->p == NULL) {
		perror("gen");
		exit(1);
	}
}

static void
put(struct out *o, const char *s)
{
	size_t n = strlen(s);

	out_reserve(o, n);
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void putf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
putf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	out_reserve(o, 512);
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if ((size_t)n >= o->cap - o->len) {
		out_reserve(o, (size_t)n);
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
	}
	o->len += (size_t)n;
}

static void
hex(char *dst, unsigned n, int upper)
{
	const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	uint64_t x = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (i % 16 == 0)
			x = gen_next();
		dst[i] = d[x & 15];
		x >>= 4;
	}
	dst[n] = '\0';
}

static void
alnum(char *dst, unsigned n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz";
	unsigned i;

	for (i = 0; i < n; i++)
		dst[i] = a[gen_below(sizeof(a) - 1)];
	dst[n] = '\0';
}

static void
uuid(char *dst)
{
	char h[33];

	hex(h, 32, 0);
	(void)snprintf(dst, 37, "%.8s-%.4s-4%.3s-%c%.3s-%.12s", h, h + 8,
	    h + 12, "89ab"[gen_below(4)], h + 15, h + 18);
}

/* ---- the world ------------------------------------------------------ */

static const char *const regions[] = {"us-east-1", "us-east-1", "us-east-1",
    "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"};
static const char *const accounts[] = {"111122223333", "444455556666",
    "123456789012", "210987654321", "777788889999"};
static const char *const roles[] = {"OrganizationAccountAccessRole",
    "eks-node-group-worker", "github-actions-deploy", "payments-api-task",
    "DataPipelineDefaultResourceRole", "AWSReservedSSO_AdministratorAccess",
    "lambda-rotation-postgres", "terraform-ci"};
static const char *const users[] = {"alice", "bob", "carol.nguyen",
    "deploy-bot",
    "jos\xc3\xa9.garc\xc3\xad"
    "a",
    "m.kowalski", "svc-backup"};
static const char *const agents[] = {
    "aws-sdk-java/1.12.470 Linux/5.10.178-162.673.amzn2.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.372-b07 java/1.8.0_372 "
    "vendor/Amazon.com_Inc. cfg/retry-mode/standard",
    "Boto3/1.28.57 md/Botocore#1.31.57 ua/2.0 os/linux#5.15.0-1045-aws "
    "md/arch#x86_64 lang/python#3.11.5 md/pyimpl#CPython "
    "cfg/retry-mode#legacy Botocore/1.31.57",
    "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux "
    "md/GOARCH#amd64 api/sts#1.22.0",
    "aws-cli/2.13.25 Python/3.11.5 Linux/6.2.0-1012-aws exe/x86_64.ubuntu.22 "
    "prompt/off command/s3api.get-object",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/117.0.0.0 Safari/537.36",
    "Terraform/1.5.7 (+https://www.terraform.io) "
    "terraform-provider-aws/5.19.0 (+https://registry.terraform.io/"
    "providers/hashicorp/aws) aws-sdk-go/1.45.17 (go1.20.8; linux; amd64)",
    "aws-internal/3 aws-sdk-java/1.12.520 Linux/5.10.192-160.758.amzn2int."
    "x86_64 OpenJDK_64-Bit_Server_VM/25.382-b06 java/1.8.0_382 "
    "vendor/Oracle_Corporation cfg/retry-mode/standard",
};
static const char *const ciphers[] = {"TLS_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384"};
static const char *const secrets[] = {"prod/payments/postgres",
    "prod/api/stripe-key", "staging/redis/auth", "prod/ldap/bind",
    "ci/github/token", "prod/\"quoted\"/odd name", "rds!db-3f2a9c41",
    "shared/datadog-api-key"};

struct ctx {
	char region[32];
	char account[16];
	uint64_t t; /* seconds since 2025-01-01T00:00:00Z */
	unsigned ms;
};

static void
when(char *dst, uint64_t t)
{
	/* 2025 is not a leap year; the bench never spans more than it. */
	static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31};
	unsigned day = (unsigned)(t / 86400) % 365;
	unsigned m = 0;

	while (day >= mdays[m]) {
		day -= mdays[m];
		m++;
	}
	(void)snprintf(dst, 32, "2025-%02u-%02uT%02u:%02u:%02uZ", m + 1,
	    day + 1, (unsigned)(t / 3600 % 24), (unsigned)(t / 60 % 60),
	    (unsigned)(t % 60));
}

static void
ip(char *dst)
{
	uint64_t x = gen_next();

	if (gen_chance(3000))
		(void)snprintf(dst, 40, "10.%u.%u.%u", (unsigned)(x & 255),
		    (unsigned)(x >> 8 & 255), (unsigned)(x >> 16 & 255));
	else
		(void)snprintf(dst, 40, "%u.%u.%u.%u", (unsigned)(x & 127) + 3,
		    (unsigned)(x >> 8 & 255), (unsigned)(x >> 16 & 255),
		    (unsigned)(x >> 24 & 255));
}

/* userIdentity for a person or a workload; by is invokedBy, or NULL. */
static void
identity(struct out *o, const struct ctx *c, const char *by)
{
	char akid[21];
	char pid[22];
	char when_s[32];
	const char *role;

	alnum(akid, 16);
	alnum(pid, 17);
	when(when_s, c->t - gen_below(3600));
	if (gen_chance(2000)) {
		const char *u = PICK(users);

		putf(o,
		    "\"userIdentity\":{\"type\":\"IAMUser\",\"principalId\":"
		    "\"AIDA%s\",\"arn\":\"arn:aws:iam::%s:user/%s\","
		    "\"accountId\":\"%s\",\"accessKeyId\":\"AKIA%s\","
		    "\"userName\":\"%s\"",
		    pid, c->account, u, c->account, akid, u);
	} else {
		char sess[24];

		role = PICK(roles);
		alnum(sess, 12);
		putf(o,
		    "\"userIdentity\":{\"type\":\"AssumedRole\",\"principalId\":"
		    "\"AROA%s:%s\",\"arn\":\"arn:aws:sts::%s:assumed-role/%s/%s"
		    "\",\"accountId\":\"%s\",\"accessKeyId\":\"ASIA%s\","
		    "\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\","
		    "\"principalId\":\"AROA%s\",\"arn\":\"arn:aws:iam::%s:role/"
		    "%s\",\"accountId\":\"%s\",\"userName\":\"%s\"},"
		    "\"webIdFederationData\":{},\"attributes\":{"
		    "\"creationDate\":\"%s\",\"mfaAuthenticated\":\"false\"}}",
		    pid, sess, c->account, role, sess, c->account, akid, pid,
		    c->account, role, c->account, role, when_s);
	}
	if (by != NULL)
		putf(o, ",\"invokedBy\":\"%s\"", by);
	put(o, "},");
}

/* The fields from eventTime to userAgent; ua and src may be NULL. */
static void
head(struct out *o, const struct ctx *c, const char *source, const char *name,
    const char *src, const char *ua)
{
	char ipb[40];
	char t[32];

	when(t, c->t);
	if (src == NULL) {
		ip(ipb);
		src = ipb;
	}
	putf(o,
	    "\"eventTime\":\"%s\",\"eventSource\":\"%s\",\"eventName\":\"%s\","
	    "\"awsRegion\":\"%s\",\"sourceIPAddress\":\"%s\","
	    "\"userAgent\":\"%s\",",
	    t, source, name, c->region, src, ua != NULL ? ua : PICK(agents));
}

/* From requestID to the end, after responseElements. */
static void
tail(struct out *o, const struct ctx *c, const char *source, int read_only,
    const char *resources, int api, char *ret_id)
{
	char req[37];

	uuid(req);
	uuid(ret_id);
	putf(o, "\"requestID\":\"%s\",\"eventID\":\"%s\",\"readOnly\":%s,", req,
	    ret_id, read_only ? "true" : "false");
	if (resources != NULL)
		putf(o, "\"resources\":[%s],", resources);
	putf(o,
	    "\"eventType\":\"%s\",\"managementEvent\":true,"
	    "\"recipientAccountId\":\"%s\",\"eventCategory\":\"Management\"",
	    api ? "AwsApiCall" : "AwsServiceEvent", c->account);
	if (api && strcmp(source, SM) != 0 &&
	    strncmp(c->region, "us-", 3) == 0 && gen_chance(9000))
		putf(o,
		    ",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.%c\","
		    "\"cipherSuite\":\"%s\",\"clientProvidedHostHeader\":"
		    "\"%.*s.%s.amazonaws.com\"}",
		    gen_chance(6000) ? '3' : '2', PICK(ciphers),
		    (int)(strchr(source, '.') - source), source, c->region);
	else if (api)
		putf(o,
		    ",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\","
		    "\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\","
		    "\"clientProvidedHostHeader\":\"%.*s.%s.amazonaws.com\"}",
		    (int)(strchr(source, '.') - source), source, c->region);
	put(o, "}");
}

static void
begin(struct out *o, const char *version)
{
	putf(o, "{\"eventVersion\":\"%s\",", version);
}

/* ---- the services --------------------------------------------------- */

static void
secretsmanager(struct out *o, const struct ctx *c, char *id)
{
	static const char *const names[] = {"GetSecretValue", "GetSecretValue",
	    "GetSecretValue", "GetSecretValue", "GetSecretValue",
	    "GetSecretValue", "DescribeSecret", "DescribeSecret", "ListSecrets",
	    "PutSecretValue", "RotationSucceeded", "RotationFailed",
	    "DeleteSecret", "PutResourcePolicy", "UpdateSecret", "CreateSecret",
	    "RotateSecret", "BatchGetSecretValue"};
	const char *name = PICK(names);
	const char *sec = PICK(secrets);
	char suffix[7];
	char arn[256];
	char res[400];
	char ver[37];
	char esc[120];
	size_t i;
	size_t j;
	int service = strcmp(name, "RotationSucceeded") == 0 ||
	    strcmp(name, "RotationFailed") == 0;
	int denied = strcmp(name, "GetSecretValue") == 0 && gen_chance(800);

	/* The secret's name as a JSON string body. */
	for (i = j = 0; sec[i] != '\0' && j < sizeof(esc) - 2; i++) {
		if (sec[i] == '"')
			esc[j++] = '\\';
		esc[j++] = sec[i];
	}
	esc[j] = '\0';
	alnum(suffix, 6);
	uuid(ver);
	(void)snprintf(arn, sizeof(arn),
	    "arn:aws:secretsmanager:%s:%s:secret:%s-%s", c->region, c->account,
	    esc, suffix);
	(void)snprintf(res, sizeof(res),
	    "{\"accountId\":\"%s\",\"type\":\"AWS::SecretsManager::Secret\","
	    "\"ARN\":\"%s\"}",
	    c->account, arn);
	begin(o, "1.09");
	if (service) {
		putf(o,
		    "\"userIdentity\":{\"accountId\":\"%s\",\"invokedBy\":\"" SM
		    "\"},",
		    c->account);
		head(o, c, SM, name, SM, SM);
		putf(o,
		    "\"requestParameters\":null,\"responseElements\":null,"
		    "\"additionalEventData\":{\"SecretId\":\"%s\"},",
		    arn);
		if (strcmp(name, "RotationFailed") == 0)
			put(o,
			    "\"serviceEventDetails\":{\"errorMessage\":"
			    "\"Lambda function returned an error: "
			    "{\\\"errorMessage\\\":\\\"password "
			    "authentication failed for user \\\\\\\"app\\\\"
			    "\\\"\\\",\\\"errorType\\\":\\\"Exception\\\"}\"},");
		tail(o, c, SM, 0, res, 0, id);
		return;
	}
	identity(o, c, NULL);
	head(o, c, SM, name, NULL, NULL);
	if (denied)
		putf(o,
		    "\"errorCode\":\"AccessDenied\",\"errorMessage\":\"User: "
		    "arn:aws:sts::%s:assumed-role/%s/session is not authorized "
		    "to perform: secretsmanager:GetSecretValue on resource: %s "
		    "because no resource-based policy allows the "
		    "secretsmanager:GetSecretValue action\",",
		    c->account, PICK(roles), esc);
	if (strcmp(name, "ListSecrets") == 0) {
		put(o,
		    "\"requestParameters\":{\"maxResults\":100,\"filters\":"
		    "[{\"key\":\"tag-key\",\"values\":[\"team\"]}]},"
		    "\"responseElements\":null,");
		tail(o, c, SM, 1, NULL, 1, id);
		return;
	}
	if (strcmp(name, "BatchGetSecretValue") == 0) {
		putf(o,
		    "\"requestParameters\":{\"secretIdList\":[\"%s\",\"%s\"]},"
		    "\"responseElements\":null,",
		    arn, "shared/datadog-api-key");
		tail(o, c, SM, 1, NULL, 1, id);
		return;
	}
	putf(o, "\"requestParameters\":{\"secretId\":\"%s\"", arn);
	if (strcmp(name, "GetSecretValue") == 0)
		put(o,
		    ",\"versionStage\":\"AWSCURRENT\"},"
		    "\"responseElements\":null,");
	else if (strcmp(name, "DeleteSecret") == 0)
		putf(o,
		    ",\"recoveryWindowInDays\":7},\"responseElements\":{"
		    "\"arn\":\"%s\",\"name\":\"%s\",\"deletionDate\":"
		    "\"Jan 8, 2025, 10:12:44 AM\"},",
		    arn, esc);
	else if (strcmp(name, "PutResourcePolicy") == 0)
		putf(o,
		    ",\"resourcePolicy\":\"{\\n  \\\"Version\\\" : "
		    "\\\"2012-10-17\\\",\\n  \\\"Statement\\\" : [ {\\n    "
		    "\\\"Effect\\\" : \\\"Allow\\\",\\n    \\\"Principal\\\" : "
		    "{\\n      \\\"AWS\\\" : \\\"arn:aws:iam::%s:root\\\"\\n    "
		    "},\\n    \\\"Action\\\" : \\\"secretsmanager:"
		    "GetSecretValue\\\",\\n    \\\"Resource\\\" : \\\"*\\\"\\n  "
		    "} ]\\n}\",\"blockPublicPolicy\":true},"
		    "\"responseElements\":{\"aRN\":\"%s\",\"name\":\"%s\"},",
		    PICK(accounts), arn, esc);
	else if (strcmp(name, "PutSecretValue") == 0 ||
	    strcmp(name, "UpdateSecret") == 0 ||
	    strcmp(name, "CreateSecret") == 0 ||
	    strcmp(name, "RotateSecret") == 0)
		putf(o,
		    ",\"clientRequestToken\":\"%s\"},\"responseElements\":{"
		    "\"arn\":\"%s\",\"versionId\":\"%s\",\"versionStages\":"
		    "[\"AWSPENDING\"]},",
		    ver, arn, ver);
	else
		put(o, "},\"responseElements\":null,");
	tail(o, c, SM, name[0] == 'G' || name[0] == 'D', res, 1, id);
}

static void
kms(struct out *o, const struct ctx *c, int by_sm, char *id)
{
	static const char *const names[] = {"Decrypt", "Decrypt", "Decrypt",
	    "GenerateDataKey", "GenerateDataKey", "Encrypt"};
	static const char *const by[] = {"s3.amazonaws.com",
	    "lambda.amazonaws.com", "ec2.amazonaws.com", "ssm.amazonaws.com",
	    "rds.amazonaws.com", "logs.amazonaws.com"};
	const char *name = PICK(names);
	char key[37];
	char res[300];
	char arn[200];
	char ver[37];
	char suffix[7];

	uuid(key);
	(void)snprintf(res, sizeof(res),
	    "{\"accountId\":\"%s\",\"type\":\"AWS::KMS::Key\",\"ARN\":"
	    "\"arn:aws:kms:%s:%s:key/%s\"}",
	    c->account, c->region, c->account, key);
	begin(o, "1.08");
	if (by_sm) {
		alnum(suffix, 6);
		uuid(ver);
		(void)snprintf(arn, sizeof(arn),
		    "arn:aws:secretsmanager:%s:%s:secret:%s-%s", c->region,
		    c->account,
		    gen_chance(5000) ? "prod/payments/postgres"
				     : "rds!db-3f2a9c41",
		    suffix);
		identity(o, c, SM);
		head(o, c, "kms.amazonaws.com", name, SM, SM);
		putf(o,
		    "\"requestParameters\":{\"encryptionContext\":{"
		    "\"SecretARN\":\"%s\",\"SecretVersionId\":\"%s\"},"
		    "\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\"%s},"
		    "\"responseElements\":null,",
		    arn, ver, name[0] == 'G' ? ",\"keySpec\":\"AES_256\"" : "");
		tail(o, c, "kms.amazonaws.com", 1, res, 1, id);
		return;
	}
	{
		const char *svc = PICK(by);
		char bucket[40];

		alnum(bucket, 10);
		identity(o, c, svc);
		head(o, c, "kms.amazonaws.com", name, svc, svc);
		if (strcmp(svc, "s3.amazonaws.com") == 0)
			putf(o,
			    "\"requestParameters\":{\"encryptionContext\":{"
			    "\"aws:s3:arn\":\"arn:aws:s3:::data-%s/exports/"
			    "2025/part-%05u.parquet\"},\"encryptionAlgorithm\":"
			    "\"SYMMETRIC_DEFAULT\"},\"responseElements\":null,",
			    bucket, gen_below(100000));
		else
			putf(o,
			    "\"requestParameters\":{\"encryptionContext\":{"
			    "\"aws:%.*s:arn\":\"arn:aws:%.*s:%s:%s:function:"
			    "worker-%s\"},\"encryptionAlgorithm\":"
			    "\"SYMMETRIC_DEFAULT\"},\"responseElements\":null,",
			    (int)(strchr(svc, '.') - svc), svc,
			    (int)(strchr(svc, '.') - svc), svc, c->region,
			    c->account, bucket);
		tail(o, c, "kms.amazonaws.com", 1, res, 1, id);
	}
}

static void
ec2(struct out *o, const struct ctx *c, char *id)
{
	char inst[18];
	char vol[18];

	hex(inst, 17, 0);
	hex(vol, 17, 0);
	begin(o, "1.09");
	identity(o, c, gen_chance(3000) ? "autoscaling.amazonaws.com" : NULL);
	switch (gen_below(4)) {
	case 0:
		head(o, c, "ec2.amazonaws.com", "DescribeInstances", NULL,
		    NULL);
		putf(o,
		    "\"requestParameters\":{\"instancesSet\":{\"items\":[{"
		    "\"instanceId\":\"i-%s\"}]},\"filterSet\":{\"items\":[{"
		    "\"name\":\"tag:Name\",\"valueSet\":{\"items\":[{\"value\":"
		    "\"web-*\"}]}},{\"name\":\"instance-state-name\","
		    "\"valueSet\":{\"items\":[{\"value\":\"running\"}]}}]}},"
		    "\"responseElements\":null,",
		    inst);
		tail(o, c, "ec2.amazonaws.com", 1, NULL, 1, id);
		break;
	case 1:
		head(o, c, "ec2.amazonaws.com", "CreateTags", NULL, NULL);
		putf(o,
		    "\"requestParameters\":{\"resourcesSet\":{\"items\":[{"
		    "\"resourceId\":\"vol-%s\"}]},\"tagSet\":{\"items\":[{"
		    "\"key\":\"team\",\"value\":\"platform\"},{\"key\":"
		    "\"cost-center\",\"value\":\"cc-%u\"}]}},"
		    "\"responseElements\":{\"requestId\":\"%s\",\"_return\":"
		    "true},",
		    vol, gen_below(9000) + 1000, inst);
		tail(o, c, "ec2.amazonaws.com", 0, NULL, 1, id);
		break;
	case 2:
		head(o, c, "ec2.amazonaws.com", "DescribeVolumes", NULL, NULL);
		putf(o,
		    "\"requestParameters\":{\"volumeSet\":{\"items\":[{"
		    "\"volumeId\":\"vol-%s\"}]},\"filterSet\":{},"
		    "\"maxResults\":500},\"responseElements\":null,",
		    vol);
		tail(o, c, "ec2.amazonaws.com", 1, NULL, 1, id);
		break;
	default:
		head(o, c, "ec2.amazonaws.com", "GetPasswordData", NULL, NULL);
		putf(o,
		    "\"errorCode\":\"Client.UnauthorizedOperation\","
		    "\"errorMessage\":\"You are not authorized to perform this "
		    "operation. User: arn:aws:sts::%s:assumed-role/%s/s is not "
		    "authorized to perform: ec2:GetPasswordData on resource: "
		    "arn:aws:ec2:%s:%s:instance/i-%s because no identity-based "
		    "policy allows the ec2:GetPasswordData action\","
		    "\"requestParameters\":{\"instanceId\":\"i-%s\"},"
		    "\"responseElements\":null,",
		    c->account, PICK(roles), c->region, c->account, inst, inst);
		tail(o, c, "ec2.amazonaws.com", 1, NULL, 1, id);
		break;
	}
}

static void
s3(struct out *o, const struct ctx *c, char *id)
{
	static const char *const names[] = {"GetBucketAcl",
	    "GetBucketPolicyStatus", "GetBucketEncryption", "PutBucketTagging",
	    "ListObjects"};
	const char *name = PICK(names);
	char bucket[16];
	char amzid[77];
	char res[200];

	alnum(bucket, 12);
	alnum(amzid, 76);
	(void)snprintf(res, sizeof(res),
	    "{\"accountId\":\"%s\",\"type\":\"AWS::S3::Bucket\",\"ARN\":"
	    "\"arn:aws:s3:::logs-%s\"}",
	    c->account, bucket);
	begin(o, "1.09");
	identity(o, c, NULL);
	head(o, c, "s3.amazonaws.com", name, NULL, NULL);
	putf(o,
	    "\"requestParameters\":{\"bucketName\":\"logs-%s\",\"Host\":"
	    "\"logs-%s.s3.%s.amazonaws.com\",\"%s\":\"\"},"
	    "\"responseElements\":null,\"additionalEventData\":{"
	    "\"SignatureVersion\":\"SigV4\",\"CipherSuite\":"
	    "\"ECDHE-RSA-AES128-GCM-SHA256\",\"bytesTransferredIn\":0,"
	    "\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"%s\","
	    "\"bytesTransferredOut\":%u},",
	    bucket, bucket, c->region, name[0] == 'L' ? "list-type" : name + 9,
	    amzid, gen_below(4000) + 100);
	tail(o, c, "s3.amazonaws.com", name[0] != 'P', res, 1, id);
}

static void
sts(struct out *o, const struct ctx *c, char *id)
{
	char token[700];
	char akid[17];
	char exp[32];
	char sess[20];
	const char *role = PICK(roles);

	alnum(akid, 16);
	alnum(sess, 19);
	alnum(token, 300 + gen_below(300));
	when(exp, c->t + 3600);
	begin(o, "1.08");
	if (gen_chance(3000)) {
		identity(o, c, NULL);
		head(o, c, "sts.amazonaws.com", "GetCallerIdentity", NULL,
		    NULL);
		put(o, "\"requestParameters\":null,\"responseElements\":null,");
		tail(o, c, "sts.amazonaws.com", 1, NULL, 1, id);
		return;
	}
	identity(o, c, gen_chance(5000) ? "ec2.amazonaws.com" : NULL);
	head(o, c, "sts.amazonaws.com", "AssumeRole", NULL, NULL);
	putf(o,
	    "\"requestParameters\":{\"roleArn\":\"arn:aws:iam::%s:role/%s\","
	    "\"roleSessionName\":\"%s\",\"durationSeconds\":3600},"
	    "\"responseElements\":{\"credentials\":{\"accessKeyId\":"
	    "\"ASIA%s\",\"sessionToken\":\"IQoJb3JpZ2luX2VjE%s\","
	    "\"expiration\":\"%s\"},\"assumedRoleUser\":{\"assumedRoleId\":"
	    "\"AROA%s:%s\",\"arn\":\"arn:aws:sts::%s:assumed-role/%s/%s\"}},",
	    c->account, role, sess, akid, token, exp, akid, sess, c->account,
	    role, sess);
	tail(o, c, "sts.amazonaws.com", 1, NULL, 1, id);
}

static void
iam(struct out *o, const struct ctx *c, char *id)
{
	const char *role = PICK(roles);

	begin(o, "1.08");
	identity(o, c, NULL);
	if (gen_chance(7000)) {
		head(o, c, "iam.amazonaws.com", "GetRole", NULL, NULL);
		putf(o,
		    "\"requestParameters\":{\"roleName\":\"%s\"},"
		    "\"responseElements\":null,",
		    role);
		tail(o, c, "iam.amazonaws.com", 1, NULL, 1, id);
		return;
	}
	head(o, c, "iam.amazonaws.com", "PutRolePolicy", NULL, NULL);
	putf(o,
	    "\"requestParameters\":{\"roleName\":\"%s\",\"policyName\":"
	    "\"inline-%u\",\"policyDocument\":\"%%7B%%22Version%%22%%3A%%22"
	    "2012-10-17%%22%%2C%%22Statement%%22%%3A%%5B%%7B%%22Effect%%22%%3A"
	    "%%22Allow%%22%%2C%%22Action%%22%%3A%%5B%%22s3%%3AGetObject%%22%%"
	    "5D%%2C%%22Resource%%22%%3A%%22arn%%3Aaws%%3As3%%3A%%3A%%3Adata%%2F"
	    "%%2A%%22%%7D%%5D%%7D\"},\"responseElements\":null,",
	    role, gen_below(1000));
	tail(o, c, "iam.amazonaws.com", 0, NULL, 1, id);
}

static void
misc(struct out *o, const struct ctx *c, char *id)
{
	static const char *const what[][3] = {
	    {"lambda.amazonaws.com", "GetFunction20150331v2",
		"{\"functionName\":\"arn:aws:lambda:%s:%s:function:etl-%u\"}"},
	    {"ssm.amazonaws.com", "GetParameters",
		"{\"names\":[\"/app/%s/%s/db-host\",\"/app/config-%u\"],"
		"\"withDecryption\":false}"},
	    {"dynamodb.amazonaws.com", "DescribeTable",
		"{\"tableName\":\"orders-%s-%s-%u\"}"},
	    {"rds.amazonaws.com", "DescribeDBInstances",
		"{\"dBInstanceIdentifier\":\"db-%s-%s-%u\"}"},
	    {"logs.amazonaws.com", "CreateLogStream",
		"{\"logGroupName\":\"/aws/lambda/%s-%s\",\"logStreamName\":"
		"\"2025/01/08/[$LATEST]%u\"}"},
	    {"elasticloadbalancing.amazonaws.com", "DescribeTargetHealth",
		"{\"targetGroupArn\":\"arn:aws:elasticloadbalancing:%s:%s:"
		"targetgroup/web/%u\"}"},
	    {"monitoring.amazonaws.com", "DescribeAlarms",
		"{\"alarmNames\":[\"%s-%s-cpu-%u\"]}"},
	};
	unsigned k = gen_below(sizeof(what) / sizeof(what[0]));

	begin(o, "1.08");
	identity(o, c, NULL);
	head(o, c, what[k][0], what[k][1], NULL, NULL);
	put(o, "\"requestParameters\":");
	/* Each format takes the region, the account and a number. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	putf(o, what[k][2], c->region, c->account, gen_below(100000));
#pragma GCC diagnostic pop
	put(o, ",\"responseElements\":null,");
	tail(o, c, what[k][0], 1, NULL, 1, id);
}

/* ---- main ----------------------------------------------------------- */

struct gz {
	z_stream s;
	FILE *f;
	unsigned char buf[1u << 16];
};

static void
gz_write(struct gz *z, const void *p, size_t n, int flush)
{
	int ret;

	z->s.next_in = (Bytef *)(uintptr_t)p;
	z->s.avail_in = (uInt)n;
	do {
		z->s.next_out = z->buf;
		z->s.avail_out = sizeof(z->buf);
		ret = deflate(&z->s, flush);
		if (ret == Z_STREAM_ERROR)
			abort();
		if (fwrite(z->buf, 1, sizeof(z->buf) - z->s.avail_out, z->f) !=
		    sizeof(z->buf) - z->s.avail_out) {
			perror("gen: write");
			exit(1);
		}
	} while (
	    z->s.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
}

static void
usage(void)
{
	fputs("usage: gen [-s SEED] [-n JSON_BYTES | -z GZIP_BYTES] "
	      "[-l IDS_FILE] OUT.json.gz\n",
	    stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct gz z;
	struct out o = {NULL, 0, 0};
	struct out ids = {NULL, 0, 0};
	struct ctx c;
	uint64_t seed = 1;
	uint64_t want_json = 10000000;
	uint64_t want_gz = 0;
	uint64_t json = 0;
	uint64_t n = 0, nsm = 0, nkms = 0, nkms_sm = 0;
	const char *ids_path = NULL;
	char id[37];
	int opt;

	while ((opt = getopt(argc, argv, "s:n:z:l:")) != -1) {
		switch (opt) {
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			want_json = strtoull(optarg, NULL, 10);
			break;
		case 'z':
			want_gz = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			ids_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	gen_rng = seed * UINT64_C(0x2545f4914f6cdd1d) + 1;
	z.f = fopen(argv[optind], "wb");
	if (z.f == NULL) {
		perror(argv[optind]);
		return 1;
	}
	if (deflateInit2(&z.s, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		abort();
	memset(&c, 0, sizeof(c));
	c.t = 86400 * 7 + gen_below(86400 * 300);
	put(&o, "{\"Records\":[");
	for (;;) {
		unsigned r = gen_below(10000);

		if (n > 0)
			put(&o, ",");
		(void)snprintf(c.region, sizeof(c.region), "%s", PICK(regions));
		(void)snprintf(c.account, sizeof(c.account), "%s",
		    PICK(accounts));
		c.t += gen_below(2);
		if (r < 200) {
			secretsmanager(&o, &c, id);
			nsm++;
			put(&ids, id);
			put(&ids, "\n");
		} else if (r < 200 + 1500) {
			int by = gen_chance(3000);

			kms(&o, &c, by, id);
			nkms++;
			nkms_sm += (unsigned)by;
		} else if (r < 1700 + 2200) {
			ec2(&o, &c, id);
		} else if (r < 3900 + 1900) {
			s3(&o, &c, id);
		} else if (r < 5800 + 1800) {
			sts(&o, &c, id);
		} else if (r < 7600 + 600) {
			iam(&o, &c, id);
		} else {
			misc(&o, &c, id);
		}
		n++;
		if (o.len >= 1u << 16) {
			gz_write(&z, o.p, o.len, Z_NO_FLUSH);
			json += o.len;
			o.len = 0;
		}
		if (want_gz != 0 ? z.s.total_out + 32768 >= want_gz
				 : json + o.len + 2 >= want_json)
			break;
	}
	put(&o, "]}");
	json += o.len;
	gz_write(&z, o.p, o.len, Z_FINISH);
	if (fclose(z.f) != 0) {
		perror("gen: close");
		return 1;
	}
	printf("records=%" PRIu64 " secretsmanager=%" PRIu64 " kms=%" PRIu64
	       " kms_by_sm=%" PRIu64 " json_bytes=%" PRIu64
	       " gzip_bytes=%" PRIu64 "\n",
	    n, nsm, nkms, nkms_sm, json, (uint64_t)z.s.total_out);
	(void)deflateEnd(&z.s);
	if (ids_path != NULL) {
		FILE *f = fopen(ids_path, "w");

		if (f == NULL || fwrite(ids.p, 1, ids.len, f) != ids.len ||
		    fclose(f) != 0) {
			perror(ids_path);
			return 1;
		}
	}
	free(o.p);
	free(ids.p);
	return 0;
}
