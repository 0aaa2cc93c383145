package spreadsheet

import (
	"errors"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// A roster kept as XLSX reads as the same CSV as one kept as CSV; other
// files are refused by name.
func TestToCSV(t *testing.T) {
	f := excelize.NewFile()
	for i, row := range [][]any{{"name", "phone", "email"}, {"张三", "13811112222", "zs@example.com"}, {"Ann", "", "ann@example.com"}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &row); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	want := "name,phone,email\n张三,13811112222,zs@example.com\nAnn,,ann@example.com\n"
	tests := []struct {
		name string
		data []byte
		want string
		err  string
	}{
		{"roster.xlsx", buf.Bytes(), want, ""},
		{"roster.CSV", []byte("\ufeff" + want), want, ""},
		{"roster.xls", []byte("old"), "", ErrFormat.Error()},
		{"roster.csv", []byte{0xff, 0xfe, 'a'}, "", "not UTF-8"},
		{"broken.xlsx", []byte("not a zip"), "", "cannot be read"},
	}
	for _, tc := range tests {
		got, err := ToCSV(tc.name, tc.data)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v", tc.name, got, err)
		}
	}
	if _, err := ToCSV("x.pdf", nil); !errors.Is(err, ErrFormat) {
		t.Errorf("a pdf: %v", err)
	}
}
