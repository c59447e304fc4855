from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("django_ses_query", "0004_inbound"),
    ]

    operations = [
        migrations.AddField(
            model_name="emaillog",
            name="topic",
            field=models.CharField(blank=True, default="", max_length=64, verbose_name="topic"),
        ),
        migrations.AddField(
            model_name="suppression",
            name="topic",
            field=models.CharField(blank=True, default="", max_length=64, verbose_name="topic"),
        ),
        migrations.AlterField(
            model_name="suppression",
            name="address",
            field=models.CharField(max_length=320, verbose_name="address"),
        ),
        migrations.AlterField(
            model_name="suppression",
            name="reason",
            field=models.CharField(
                choices=[("bounce", "bounce"), ("complaint", "complaint"), ("unsubscribe", "unsubscribe")],
                max_length=16,
                verbose_name="reason",
            ),
        ),
        migrations.AddConstraint(
            model_name="suppression",
            constraint=models.UniqueConstraint(fields=("address", "topic"), name="sesq_suppression_once"),
        ),
    ]
