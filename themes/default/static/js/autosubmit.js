// Forms whose <select data-autosubmit> sends the form as soon as it changes (the sort
// menu). A plain module instead of an inline onchange="…": the pages' Content-Security-
// Policy allows no inline script. Without JavaScript the form's own button does it.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}
