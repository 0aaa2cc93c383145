package armstest

import (
	"net/url"
	"testing"
)

func TestSignVectors(t *testing.T) {
	common := func() url.Values {
		return url.Values{
			"AccessKeyId":      {"testid"},
			"SignatureMethod":  {"HMAC-SHA1"},
			"SignatureNonce":   {"3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
			"SignatureVersion": {"1.0"},
			"Timestamp":        {"2016-02-23T12:46:24Z"},
		}
	}
	describeRegions := common()
	describeRegions.Set("Action", "DescribeRegions")
	describeRegions.Set("Format", "XML")
	describeRegions.Set("Version", "2014-05-26")

	create := common()
	for k, v := range map[string]string{
		"Action": "CreateAlertContact", "ContactName": "John Doe", "Email": "someone@example.com",
		"PhoneNum": "13800000000", "Format": "JSON", "RegionId": "cn-hangzhou", "SignatureType": "",
		"Version": "2019-08-08",
	} {
		create.Set(k, v)
	}
	createSTS := url.Values{}
	for k, v := range create {
		createSTS[k] = v
	}
	createSTS.Set("SecurityToken", "tok")

	tests := []struct {
		name, method string
		params       url.Values
		wantSTS      string
		want         string
	}{
		{
			name: "official DescribeRegions example", method: "GET", params: describeRegions,
			wantSTS: "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
			want:    "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
		{
			name: "CreateAlertContact with a space in the name", method: "POST", params: create,
			wantSTS: "POST&%2F&AccessKeyId%3Dtestid%26Action%3DCreateAlertContact%26ContactName%3DJohn%2520Doe%26Email%3Dsomeone%2540example.com%26Format%3DJSON%26PhoneNum%3D13800000000%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2019-08-08",
			want:    "0dmvJEfgTFDMnKTb7IdWrl0mK9I=",
		},
		{name: "with an STS token", method: "POST", params: createSTS, want: "hTxrr9Zk3raqAj122V7VisxO+PQ="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts := StringToSign(tc.method, tc.params)
			if tc.wantSTS != "" && sts != tc.wantSTS {
				t.Fatalf("string to sign\n got %s\nwant %s", sts, tc.wantSTS)
			}
			if got := Sign("testsecret", sts); got != tc.want {
				t.Fatalf("signature = %s, want %s", got, tc.want)
			}
		})
	}
}
