/* global document, fetch, location, DOMParser, setInterval */
// Sorting of tables with [aria-sort] headings, and refresh in place when an analytics cycle completes.
(function () {
  'use strict';

  function cellValue(row, index, type) {
    var cell = row.children[index];
    if (!cell) return type === 'number' ? -Infinity : '';
    var raw = cell.getAttribute('data-sort');
    if (raw === null) raw = cell.textContent || '';
    if (type !== 'number') return raw.toLowerCase();
    var value = raw === '' ? Infinity : Number(raw);
    return isNaN(value) ? Infinity : value;
  }

  function sortTable(table, index, direction) {
    var heading = table.tHead.rows[0].children[index];
    var type = heading.getAttribute('data-type') || 'text';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type);
      var y = cellValue(b, index, type);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return direction === 'ascending' ? order : -order;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].children, function (th) {
      if (th.hasAttribute('aria-sort')) th.setAttribute('aria-sort', 'none');
    });
    heading.setAttribute('aria-sort', direction);
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row) {
      fragment.appendChild(row);
    });
    body.appendChild(fragment);
  }

  var sortState = {};

  function wireSorting(root) {
    Array.prototype.forEach.call(root.querySelectorAll('table.sortable'), function (table, tableIndex) {
      var headings = table.tHead.rows[0].children;
      Array.prototype.forEach.call(headings, function (th, index) {
        var button = th.querySelector('button');
        if (!button) return;
        button.addEventListener('click', function () {
          var next = th.getAttribute('aria-sort') === 'descending' ? 'ascending' : 'descending';
          sortState[tableIndex] = { index: index, direction: next };
          sortTable(table, index, next);
        });
      });
      var state = sortState[tableIndex];
      if (state) sortTable(table, state.index, state.direction);
    });
  }

  function announce(text) {
    var live = document.querySelector('.live');
    if (live) live.textContent = text;
  }

  function refresh(main) {
    return fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        var next = new DOMParser().parseFromString(html, 'text/html').querySelector('main');
        if (!next) return;
        var focused = document.activeElement && document.activeElement.id;
        main.innerHTML = next.innerHTML;
        main.setAttribute('data-evaluated-at', next.getAttribute('data-evaluated-at') || '');
        wireSorting(main);
        if (focused) {
          var again = document.getElementById(focused);
          if (again) again.focus();
        }
        announce(
          'Updated with the forecasts of ' + (next.getAttribute('data-evaluated-at') || 'the latest cycle'),
        );
      });
  }

  function poll(main, everyMs) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch('/ui/cycle', { credentials: 'same-origin' })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (body) {
          if (body && body.evaluated_at && body.evaluated_at !== main.getAttribute('data-evaluated-at')) {
            return refresh(main);
          }
        })
        .catch(function () {
          /* the service may be restarting: ask again next time */
        })
        .then(function () {
          busy = false;
        });
    }, everyMs);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var main = document.querySelector('main');
    if (!main) return;
    wireSorting(main);
    var everyMs = Number(document.body.getAttribute('data-poll-ms'));
    if (main.hasAttribute('data-evaluated-at') && everyMs > 0) poll(main, everyMs);
  });
})();
