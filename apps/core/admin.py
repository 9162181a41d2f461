"""Admin helpers: credential fields are write-only (never shown back, blank keeps them)."""

from django import forms


class SecretInput(forms.PasswordInput):
    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})})


class WriteOnlySecretsForm(forms.ModelForm):
    """A ModelForm whose `secret_fields` are never rendered; leaving one blank keeps it."""

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            field = self.fields[name]
            field.widget = SecretInput()
            field.required = False
            if self.instance.pk and getattr(self.instance, name):
                field.help_text = "Stored (encrypted). Leave blank to keep it."
            self.initial[name] = ""

    def clean(self):
        data = super().clean()
        for name in self.secret_fields:
            if name in data and not data[name] and self.instance.pk:
                data[name] = getattr(type(self.instance).objects.get(pk=self.instance.pk), name)
                setattr(self.instance, name, data[name])
        return data
