// Package spreadsheet reads the files people keep rosters in, CSV and
// XLSX, into CSV text that /contact import reads.
package spreadsheet

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// ErrFormat: a file that is neither CSV nor XLSX.
var ErrFormat = errors.New("not a .csv or .xlsx file")

// maxRows bounds what is read of a sheet, whatever the import's own
// limit: a file is no reason to hold a million rows in memory.
const maxRows = 5000

// ToCSV reads a file by its name's extension: CSV (UTF-8, a byte order
// mark dropped) as it is, XLSX's first sheet as CSV.
func ToCSV(name string, data []byte) (string, error) {
	switch strings.ToLower(path.Ext(name)) {
	case ".csv", ".txt":
		data = bytes.TrimPrefix(data, []byte("\ufeff"))
		if !utf8.Valid(data) {
			return "", errors.New("the CSV is not UTF-8 text (save it as CSV UTF-8)")
		}
		return string(data), nil
	case ".xlsx":
		return xlsxToCSV(data)
	}
	return "", ErrFormat
}

func xlsxToCSV(data []byte) (string, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("the XLSX cannot be read: %w", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return "", errors.New("the XLSX has no sheet")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return "", fmt.Errorf("the XLSX's first sheet cannot be read: %w", err)
	}
	defer rows.Close()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for n := 0; rows.Next(); n++ {
		if n == maxRows {
			return "", fmt.Errorf("the sheet has more than %d rows", maxRows)
		}
		cols, err := rows.Columns()
		if err != nil {
			return "", fmt.Errorf("the XLSX's row %d cannot be read: %w", n+1, err)
		}
		if err := w.Write(cols); err != nil {
			return "", err
		}
	}
	w.Flush()
	return b.String(), w.Error()
}
