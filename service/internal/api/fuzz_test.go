package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// bodySeeds are the bodies that broke the seed application, and friends.
var bodySeeds = []string{
	`null`, `[]`, `{}`, `{"task":1}`, `{"task":null}`, `{"task":""}`, `{"task":"ok"}`,
	`{"task":["a"]}`, `{"task":{"a":1}}`, `"task"`, `1`, `true`, ``, `{`, `{"task":"a"`,
	`{"task":"a"} x`, `{"task":"\u0000"}`, `{"task":"\ud800"}`, "{\"task\":\"\xff\xfe\"}",
	`{"TASK":"upper"}`, `{"task":"a","task":"b"}`, `{"task":"a","extra":1}`,
	`{"task":"` + strings.Repeat("x", MaxTaskLen+1) + `"}`,
	`{"task":"` + strings.Repeat("x", DefaultMaxBody) + `"}`,
	strings.Repeat("[", 100000),
	`{"task":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`,
}

// checkAnswer fails on a 5xx or on an answer that is not the API's JSON.
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	require.Less(t, rec.Code, 500, "body: %.300s", rec.Body)
	if rec.Code >= 300 && rec.Code < 400 {
		// ServeMux redirects unclean paths such as /tasks/. to their clean form.
		require.NotEmpty(t, rec.Header().Get("Location"))
		return
	}
	if rec.Code == http.StatusNoContent {
		require.Zero(t, rec.Body.Len())
		return
	}
	require.True(t, json.Valid(rec.Body.Bytes()), "answer is not JSON: %.300s", rec.Body)
	if rec.Code >= 400 {
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e))
		require.NotEmpty(t, e.Error)
	}
}

func FuzzCreate(f *testing.F) {
	for _, b := range bodySeeds {
		f.Add(b, jsonCT)
	}
	f.Add(`{"task":"x"}`, "text/plain")
	f.Add(`{"task":"x"}`, "application/json; charset=")
	mux, s := newMux(f)
	f.Fuzz(func(t *testing.T, body, contentType string) {
		rec := request{method: "POST", target: "/tasks", contentType: contentType, body: body}.do(t, mux)
		checkAnswer(t, rec)
		if rec.Code != http.StatusCreated {
			return
		}
		// What was accepted is what is stored and what a GET returns.
		var created struct {
			ID   int64
			Task string
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
		require.True(t, utf8.ValidString(created.Task))
		require.LessOrEqual(t, utf8.RuneCountInString(created.Task), MaxTaskLen)
		stored, err := s.Get(t.Context(), created.ID)
		require.NoError(t, err)
		require.Equal(t, created.Task, stored.Task)
		require.Equal(t, "/tasks/"+itoa(created.ID), rec.Header().Get("Location"))
	})
}

func FuzzUpdate(f *testing.F) {
	for _, b := range bodySeeds {
		f.Add("1", b)
	}
	for _, id := range []string{"0", "-1", "99", "1e3", "0x10", "١", " 1", "1/2", "99999999999999999999", ""} {
		f.Add(id, `{"task":"x"}`)
	}
	mux, _ := newMux(f)
	f.Fuzz(func(t *testing.T, id, body string) {
		target := "/tasks/" + url.PathEscape(id)
		checkAnswer(t, request{method: "PUT", target: target, contentType: jsonCT, body: body}.do(t, mux))
		checkAnswer(t, request{method: "GET", target: target}.do(t, mux))
	})
}

func FuzzDelete(f *testing.F) {
	for _, id := range []string{"1", "0", "-1", "99", "abc", "%00", "99999999999999999999"} {
		f.Add(id)
	}
	mux, _ := newMux(f)
	f.Fuzz(func(t *testing.T, id string) {
		checkAnswer(t, request{method: "DELETE", target: "/tasks/" + url.PathEscape(id)}.do(t, mux))
	})
}

func FuzzList(f *testing.F) {
	for _, q := range []string{"", "limit=1", "limit=1000", "limit=1001", "limit=-1", "after=2&limit=1",
		"after=abc", "limit=%zz", "limit=1&limit=2", "after=9223372036854775807", "after=9223372036854775808"} {
		f.Add(q)
	}
	mux, _ := newMux(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest("GET", "/tasks", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		checkAnswer(t, rec)
		if rec.Code != http.StatusOK {
			return
		}
		var page struct {
			Tasks []struct{ ID int64 }
			Next  *int64
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		require.NotNil(t, page.Tasks, "tasks is a list, never null")
		for i := 1; i < len(page.Tasks); i++ {
			require.Less(t, page.Tasks[i-1].ID, page.Tasks[i].ID, "ordered by id")
		}
		if page.Next != nil {
			require.Equal(t, page.Tasks[len(page.Tasks)-1].ID, *page.Next)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
